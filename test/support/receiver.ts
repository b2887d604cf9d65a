import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** raw body text (what a webhook signature covers) */
  raw: string;
  /** parsed JSON body, or undefined when the body is not JSON */
  body: unknown;
  /** the status this receiver answered with */
  status: number;
  at: number;
}

/**
 * A real HTTP server on 127.0.0.1 (port 0) standing in for the SMS provider and webhook receivers. It
 * records every request and answers 200 unless told otherwise: `failNext(2, 500)` answers the next two with
 * 500, `failAlways(400)` answers every request with 400 until `failAlways(null)`. `hold()` keeps the next
 * requests unanswered (to kill a sender mid-request) until `release()`.
 */
export class TestReceiver {
  url = '';
  readonly requests: ReceivedRequest[] = [];
  private server: Server | null = null;
  private failures: number[] = [];
  private always: number | null = null;
  private holding = false;
  private held: (() => void)[] = [];
  private waiters = new Set<() => void>();

  failNext(n: number, status: number): this {
    for (let i = 0; i < n; i++) this.failures.push(status);
    return this;
  }

  failAlways(status: number | null): this {
    this.always = status;
    return this;
  }

  hold(): this {
    this.holding = true;
    return this;
  }

  release(): this {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
    return this;
  }

  /** Forget recorded requests and failure modes (between tests). */
  reset(): this {
    this.requests.length = 0;
    this.failures = [];
    this.always = null;
    this.release();
    return this;
  }

  /** Requests answered with a 2xx. */
  get accepted(): ReceivedRequest[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Resolves with the requests once at least `count` arrived; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs = 5000, path?: string): Promise<ReceivedRequest[]> {
    const matching = () => this.requests.filter((r) => path === undefined || r.path === path);
    return new Promise((resolve, reject) => {
      const check = () => {
        const got = matching();
        if (got.length >= count) {
          cleanup();
          resolve(got);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`receiver: expected ${count} request(s)${path ? ` to ${path}` : ''}, got ${matching().length} in ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          body = undefined;
        }
        const status = this.failures.shift() ?? this.always ?? 200;
        const url = new URL(req.url ?? '/', 'http://receiver');
        this.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, raw, body, status, at: Date.now() });
        const answer = () => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(status < 300 ? { ok: true } : { error: `status ${status}` }));
        };
        if (this.holding) this.held.push(answer);
        else answer();
        for (const w of [...this.waiters]) w();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    this.release();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
