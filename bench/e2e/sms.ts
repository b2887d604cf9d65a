/**
 * The SMS provider of `npm run bench`: a real HTTP server (in the load driver's process) that takes the gateway's
 * `POST {to, text, id}` with `Idempotency-Key`, answers 200 at once, counts every text by its Idempotency-Key (a
 * key seen twice is a text sent twice) and hands each first text to whoever waits for its id.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface Text {
  id: string;
  text: string;
  /** epoch ms, sub-ms precision */
  at: number;
}

export class SmsReceiver {
  url = '';
  /** texts by Idempotency-Key: how many times each came */
  readonly counts = new Map<string, number>();
  requests = 0;
  malformed = 0;
  private server: Server | null = null;
  private readonly unread = new Map<string, Text>();
  private readonly waiting = new Map<string, (t: Text) => void>();

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const at = performance.timeOrigin + performance.now();
        const key = String(req.headers['idempotency-key'] ?? '');
        let body: { id?: unknown; text?: unknown } = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        } catch {
          /* counted below */
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
        if (!key || typeof body.text !== 'string') {
          this.malformed++;
          return;
        }
        const n = (this.counts.get(key) ?? 0) + 1;
        this.counts.set(key, n);
        if (n > 1) return;
        const t: Text = { id: key, text: body.text, at };
        const w = this.waiting.get(key);
        if (w) {
          this.waiting.delete(key);
          w(t);
        } else this.unread.set(key, t);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** The text with this Idempotency-Key (job id, e.g. `<parcel>.stored.sms`), once it comes. */
  wait(id: string, timeoutMs: number): Promise<Text> {
    const have = this.unread.get(id);
    if (have) {
      this.unread.delete(id);
      return Promise.resolve(have);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no SMS ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (text) => {
        clearTimeout(t);
        resolve(text);
      });
    });
  }

  /** Keys that came more than once. */
  duplicates(): string[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([k]) => k);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
