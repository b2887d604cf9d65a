/** What bench/lifecycle.ts's modes stand on: its own redis-server, synthetic units, a stub SMS provider, and spies on the store and the engine. */
import { spawn } from 'node:child_process';
import type { Redis } from 'ioredis';
import type { CompartmentProfile, Size, UnitProfile } from '../../src/domain/model.js';
import type { EvidenceEntry } from '../../src/evidence/entry.js';
import { ParcelStore } from '../../src/store/parcels.js';
import type { Check, Op } from '../../src/store/tx.js';
import { TestRedis } from '../../test/support/redis.js';
/** Child processes to end if the bench dies half way (TestRedis.stop() and kill() signal synchronously). */
export const onExit: (() => void)[] = [];
process.on('exit', () => onExit.forEach((fn) => fn()));

export async function startRedis(fsync: string): Promise<{ server: TestRedis; admin: Redis }> {
  const server = await new TestRedis().start();
  onExit.push(() => void server.stop());
  const admin = server.client();
  await admin.config('SET', 'appendfsync', fsync);
  return { server, admin };
}

/** Synthetic units: `n` json-v1-shaped profiles with `per` compartments (half S, 30% M, 15% L, the rest XL). */
export function syntheticUnits(n: number, per: number): UnitProfile[] {
  const sizeOf = (i: number): Size => (i < per * 0.5 ? 'S' : i < per * 0.8 ? 'M' : i < per * 0.95 ? 'L' : 'XL');
  return Array.from({ length: n }, (_, u) => ({
    id: `BENCH-${String(u).padStart(4, '0')}`,
    site: `bench-${u}`,
    siteName: { zh: `测试${u}`, en: `Bench ${u}` },
    dialect: 'json-v1' as const,
    compartments: Array.from({ length: per }, (_, i): CompartmentProfile => ({ no: i + 1, size: sizeOf(i) })),
    location: { lat: 31.39 + u * 1e-4, lng: 120.97 },
  }));
}

/** An SMS provider stand-in in a child process (out of the measured process): answers every POST with 200. */
export async function startStubProvider(): Promise<{ url: string; stop(): void }> {
  const code = `require('http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'application/json' }); s.end('{"ok":true}'); }); })
    .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  onExit.push(() => void child.kill('SIGTERM'));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}

/** Captures the plaintext code of each `stored` notice as it is written (the bench plays the resident reading the SMS). */
export class CodeSpyStore extends ParcelStore {
  readonly codes = new Map<string, string>();
  outboxEntries = 0;
  override async commit(chain: string, entries: EvidenceEntry[], checks: Check[], ops: Op[]): Promise<boolean> {
    const res = await super.commit(chain, entries, checks, ops);
    if (res) {
      for (const op of ops) {
        if (op[0] === 'XADD' && op[1] === this.k.outbox) this.outboxEntries++;
        if (op[0] !== 'XADD' || op[1] !== this.k.outbox || op[5] !== 'notice') continue;
        const n = JSON.parse(String(op[6])) as { kind: string; parcelId?: string; params: { code?: string } };
        if (n.kind === 'stored' && n.parcelId && n.params.code) this.codes.set(n.parcelId, n.params.code);
      }
    }
    return res;
  }
}

/** Resolves a promise when the engine has handled the logged event with that key (unit + stream id: ids are per stream). */
export class Handled {
  private readonly done = new Set<string>();
  private readonly waiting = new Map<string, () => void>();
  mark(id: string): void {
    const w = this.waiting.get(id);
    if (w) {
      this.waiting.delete(id);
      w();
    } else this.done.add(id);
  }
  wait(id: string): Promise<void> {
    if (this.done.delete(id)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}

// ------------------------------------------------------------------------------------------------ service / engine

