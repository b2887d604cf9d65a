/**
 * The SMS provider and the webhook receivers (property, courier): a real HTTP server that, like a real provider,
 * counts deliveries by Idempotency-Key. Its faults, switched on for a while by the soak: `fail` (503, nothing
 * delivered: an outage), `timeout` (delivered, but the answer comes after the sender's 10 s timeout), `slow`
 * (delivered, answered after 0.5–3 s).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | 'fail' | 'timeout' | 'slow';

export interface Delivery {
  key: string;
  path: string;
  at: number;
  /** the answer was 2xx but the sender did not get it (timeout fault, or the connection closed first) */
  answerLost: boolean;
}

export interface Received {
  key: string;
  path: string;
  parcelId: string | null;
  noticeId: string;
  deliveries: Delivery[];
  text?: string;
}

/** `12345.stored.sms` style job ids: the notice id, url-encoded, then the route. */
export function noticeOfKey(key: string): { noticeId: string; parcelId: string | null } {
  const dot = key.lastIndexOf('.');
  const noticeId = decodeURIComponent(dot > 0 ? key.slice(0, dot) : key);
  const parcelId = noticeId.startsWith('p_') ? noticeId.split('.')[0]! : null;
  return { noticeId, parcelId };
}

export class Receiver {
  url = '';
  mode: ReceiverMode = 'ok';
  readonly byKey = new Map<string, Received>();
  /** answers given, by kind */
  readonly answers = { ok: 0, fail: 0, timeout: 0, slow: 0 };
  /** requests without an Idempotency-Key (never expected) */
  readonly keyless: string[] = [];
  private server: Server | null = null;
  private readonly codeWaiters = new Map<string, ((code: string) => void)[]>();
  private readonly codes = new Map<string, string>();

  constructor(private readonly rng: () => number) {}

  /** The newest pickup code texted for a parcel (resolves when one arrives). */
  code(parcelId: string): string | undefined {
    return this.codes.get(parcelId);
  }

  waitCode(parcelId: string, timeoutMs: number): Promise<string | null> {
    const have = this.codes.get(parcelId);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => {
      const list = this.codeWaiters.get(parcelId) ?? [];
      const t = setTimeout(() => {
        const l = this.codeWaiters.get(parcelId);
        if (l) l.splice(l.indexOf(done), 1);
        resolve(null);
      }, timeoutMs);
      const done = (c: string) => {
        clearTimeout(t);
        resolve(c);
      };
      list.push(done);
      this.codeWaiters.set(parcelId, list);
    });
  }

  private deliver(key: string, path: string, raw: string): Delivery {
    const { noticeId, parcelId } = noticeOfKey(key);
    let rec = this.byKey.get(key);
    if (!rec) {
      rec = { key, path, parcelId, noticeId, deliveries: [] };
      this.byKey.set(key, rec);
    }
    const d: Delivery = { key, path, at: Date.now(), answerLost: false };
    rec.deliveries.push(d);
    if (path === '/sms') {
      try {
        const text = String((JSON.parse(raw) as { text?: unknown }).text ?? '');
        rec.text = text;
        const code = /取件码\s*(\d+)/.exec(text)?.[1] ?? /code:?\s*(\d+)/i.exec(text)?.[1];
        if (code && parcelId) {
          this.codes.set(parcelId, code);
          for (const w of this.codeWaiters.get(parcelId) ?? []) w(code);
          this.codeWaiters.delete(parcelId);
        }
      } catch {
        /* not JSON: still counted */
      }
    }
    return d;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const key = req.headers['idempotency-key'];
        const path = new URL(req.url ?? '/', 'http://r').pathname;
        const mode = this.mode;
        if (mode === 'fail') {
          this.answers.fail++;
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"provider unavailable"}');
          return;
        }
        if (typeof key !== 'string' || !key) {
          this.keyless.push(`${path} ${raw.slice(0, 200)}`);
          res.writeHead(400).end('{"error":"Idempotency-Key missing"}');
          return;
        }
        const d = this.deliver(key, path, raw);
        let finished = false;
        res.on('finish', () => (finished = true));
        res.on('close', () => {
          if (!finished) d.answerLost = true;
        });
        const answer = () => {
          if (res.destroyed) {
            d.answerLost = true;
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        };
        if (mode === 'timeout') {
          this.answers.timeout++;
          d.answerLost = true; // the sender gives up after 10 s; whatever we answer later is not heard
          setTimeout(answer, 11_000).unref();
        } else if (mode === 'slow') {
          this.answers.slow++;
          setTimeout(answer, 500 + Math.floor(this.rng() * 2500)).unref();
        } else {
          this.answers.ok++;
          answer();
        }
      });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
