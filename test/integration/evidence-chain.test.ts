import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { ManualClock } from '../../src/domain/clock.js';
import { Evidence, EvidenceLog, unitChain } from '../../src/evidence/index.js';
import { linkHash, type EvidenceEntry } from '../../src/evidence/entry.js';
import type { Parcel } from '../../src/domain/parcel.js';
import { keys } from '../../src/store/keys.js';
import { trackingBucket, trackingField } from '../../src/store/indexes.js';
import { UnitStore, fieldMap } from '../../src/store/units.js';
import { silentLogger } from '../../src/log.js';
import { TestRedis } from '../support/redis.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../../src/config/credentials.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const U = UNITS[0]!.id;
const CHAIN = unitChain(U);
const SECRET = Buffer.alloc(32, 7);
let server: TestRedis;
let redis: Redis;
let n = 0;

beforeAll(async () => {
  server = await new TestRedis().start();
  redis = server.client();
});
afterAll(async () => {
  redis.disconnect();
  await server.destroy();
});

/** A fresh prefix, an evidence log with its checkpoints, and a unit store that appends through it. */
function world(clock = new ManualClock()) {
  const prefix = `ev${++n}:`;
  const log = new EvidenceLog(redis, prefix);
  const evidence = new Evidence(log, { redis, prefix, secret: SECRET, clock, logger: silentLogger, retentionDays: 180 });
  const store = new UnitStore(redis, prefix, UNITS, log);
  return { prefix, k: keys(prefix), log, evidence, store, clock };
}

const entry = (i: number, extra: Partial<EvidenceEntry> = {}): EvidenceEntry => ({
  at: 1_000 + i,
  kind: 'note',
  actor: { type: 'system', id: 'test' },
  unit: U,
  i,
  ...extra,
});

/** Ten entries: appended by TypeScript, by the unit store's Lua step, and inferred (hashed) inside Lua. */
async function tenEntries(w: ReturnType<typeof world>): Promise<[string, string[]][]> {
  await w.log.append(CHAIN, [entry(1), entry(2), entry(3)]);
  await w.store.apply({ unit: U, at: 4, source: { seq: 1 }, kind: 'door-closed', compartment: 5, occupied: false }, { mode: 'seq', seq: 1 });
  await w.store.apply({ unit: U, at: 5, source: { seq: 2 }, kind: 'door-opened', compartment: 5 }, { mode: 'seq', seq: 2 });
  // a snapshot that disagrees: the Lua step infers the close and hashes it itself
  await w.store.reconcile({ unit: U, at: 6, source: {}, compartments: [{ compartment: 5, doorOpen: false, occupied: true }] });
  await w.log.append(CHAIN, [entry(7), entry(8)]);
  await w.log.append(CHAIN, [entry(9), entry(10)]);
  const rows = await redis.xrange(w.k.evidence(CHAIN), '-', '+');
  expect(rows).toHaveLength(10);
  return rows;
}

/** Rewrite the stream as an intruder with write access to Redis would: same ids, one entry changed. */
async function rewrite(w: ReturnType<typeof world>, rows: [string, string[]][], at: number, change: (f: Record<string, string>) => void) {
  await redis.del(w.k.evidence(CHAIN));
  for (const [i, [id, fields]] of rows.entries()) {
    const f = fieldMap(fields);
    if (i === at) change(f);
    await redis.xadd(w.k.evidence(CHAIN), id, 'n', f.n!, 'p', f.p!, 'h', f.h!, 'e', f.e!);
  }
}

describe('the evidence chain', () => {
  it('verifies an untouched chain, entries hashed in TypeScript and in Lua alike', async () => {
    const w = world();
    const rows = await tenEntries(w);
    const fields = rows.map(([, f]) => fieldMap(f));
    expect(fields.map((f) => Number(f.n))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // the Lua-hashed entry (the inferred close) links and hashes exactly as linkHash does
    const inferred = fields[5]!;
    expect(JSON.parse(inferred.e!)).toMatchObject({ kind: 'door-closed', source: { reconciled: true }, actor: { type: 'system', id: 'reconcile' } });
    expect(inferred.h).toBe(linkHash(6, inferred.p!, inferred.e!));
    await w.evidence.checkpoints.take(CHAIN);
    const r = await w.evidence.verifier.verify(CHAIN);
    expect(r).toMatchObject({ ok: true, checked: 10, from: 1, to: 10, broken: null, checkpoint: { n: 10 } });
  });

  it('links several entries inferred by one reading, and what is appended after them', async () => {
    const w = world();
    await w.store.apply({ unit: U, at: 4, source: { seq: 1 }, kind: 'door-closed', compartment: 5, occupied: false }, { mode: 'seq', seq: 1 });
    await w.store.reconcile({ unit: U, at: 5, source: {}, compartments: [6, 7, 8].map((c) => ({ compartment: c, doorOpen: false, occupied: false })) });
    // one reading, four inferred entries hashed in Lua (5: closed with a parcel, 6: opened, 8: opened and closed)
    const inferred = await w.store.reconcile({
      unit: U,
      at: 6,
      source: {},
      compartments: [
        { compartment: 5, doorOpen: false, occupied: true },
        { compartment: 6, doorOpen: true, occupied: false },
        { compartment: 7, doorOpen: false, occupied: false },
        { compartment: 8, doorOpen: false, occupied: true },
      ],
    });
    expect(inferred!.map((e) => e.event.kind)).toEqual(['door-opened', 'door-closed', 'door-opened', 'door-opened', 'door-closed']);
    await w.log.append(CHAIN, [entry(7)]);
    await w.store.apply({ unit: U, at: 8, source: { seq: 2 }, kind: 'door-closed', compartment: 6, occupied: true }, { mode: 'seq', seq: 2 });
    const rows = (await redis.xrange(w.k.evidence(CHAIN), '-', '+')).map(([id, f]) => ({ id, n: '', e: '', h: '', ...fieldMap(f) }));
    expect(rows.map((f) => Number(f.n))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rows.slice(1, 6).map((f) => (JSON.parse(f.e) as EvidenceEntry).compartment)).toEqual([5, 5, 6, 8, 8]);
    expect(await redis.hgetall(w.k.evidenceHead(CHAIN))).toEqual({ n: '8', h: rows[7]!.h, id: rows[7]!.id });
    expect(await w.evidence.verifier.verify(CHAIN)).toMatchObject({ ok: true, checked: 8, broken: null });
  });

  it('names the entry that was altered', async () => {
    const w = world();
    const rows = await tenEntries(w);
    await rewrite(w, rows, 3, (f) => (f.e = f.e!.replace('"occupied":false', '"occupied":true')));
    const r = await w.evidence.verifier.verify(CHAIN);
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({ entry: rows[3]![0], n: 4, problem: 'altered' });
    expect(r.broken!.found).toContain(fieldMap(rows[3]![1]).h);
  });

  it('names the entry after one that was altered and re-hashed (its link no longer matches)', async () => {
    const w = world();
    const rows = await tenEntries(w);
    await rewrite(w, rows, 6, (f) => {
      f.e = f.e!.replace('"i":7', '"i":70');
      f.h = linkHash(7, f.p!, f.e);
    });
    const r = await w.evidence.verifier.verify(CHAIN);
    expect(r.broken).toMatchObject({ entry: rows[7]![0], n: 8, problem: 'relinked' });
  });

  it('names the position where an entry was deleted', async () => {
    const w = world();
    const rows = await tenEntries(w);
    await redis.xdel(w.k.evidence(CHAIN), rows[4]![0]);
    const r = await w.evidence.verifier.verify(CHAIN);
    expect(r.broken).toMatchObject({ entry: rows[5]![0], n: 5, problem: 'missing', expected: 'entry n=5', found: 'entry n=6' });
  });

  it('catches a cut tail by its checkpoint, even with the head rewritten to match', async () => {
    const w = world();
    const rows = await tenEntries(w);
    await w.evidence.checkpoints.take(CHAIN);
    await redis.xdel(w.k.evidence(CHAIN), rows[8]![0], rows[9]![0]);
    const last = fieldMap(rows[7]![1]);
    await redis.hset(w.k.evidenceHead(CHAIN), 'n', 8, 'h', last.h!, 'id', rows[7]![0]);
    const r = await w.evidence.verifier.verify(CHAIN);
    expect(r.broken).toMatchObject({ entry: null, n: 9, problem: 'truncated', found: 'the chain ends at n=8' });
    expect(r.broken!.expected).toMatch(/^entries up to n=10/);
  });

  it('refuses a checkpoint record rewritten without the signing key', async () => {
    const w = world();
    await tenEntries(w);
    await w.evidence.checkpoints.take(CHAIN);
    const [[id, fields]] = (await redis.xrange(w.k.checkpoints(CHAIN), '-', '+')) as [[string, string[]]];
    const f = fieldMap(fields);
    await redis.del(w.k.checkpoints(CHAIN));
    await redis.xadd(w.k.checkpoints(CHAIN), id, 'n', 8, 'h', f.h!, 'id', f.id!, 'at', f.at!, 'why', f.why!, 'sig', f.sig!);
    expect((await w.evidence.verifier.verify(CHAIN)).ok).toBe(false);
  });

  it('keeps appends from two processes on one chain in one unbroken order', async () => {
    const w = world();
    const other = new EvidenceLog(redis, w.prefix); // another gateway: its own cached head
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? w.log : other).append(CHAIN, [entry(i)])));
    const r = await w.evidence.verifier.verify(CHAIN);
    expect(r).toMatchObject({ ok: true, checked: 40 });
  });
});

describe('npm run verify', () => {
  it('exits 0 on good chains and 1 naming the broken entry, with the gateway\'s credentials', async () => {
    const creds = loadCredentials({ file: DEV_CREDENTIALS_FILE });
    const w = world();
    const signed = new Evidence(w.log, { redis, prefix: w.prefix, secret: Buffer.from(creds.gateway.codeKeyHex!, 'hex'), clock: w.clock, logger: silentLogger, retentionDays: 180 });
    const rows = await tenEntries(w);
    await signed.checkpoints.take(CHAIN);
    const run = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, ['dist/scripts/verify.js'], {
          cwd: ROOT,
          env: { ...process.env, REDIS_URL: server.url, REDIS_PREFIX: w.prefix, NODE_ENV: 'test' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        p.stdout.on('data', (b: Buffer) => (out += b.toString()));
        p.stderr.on('data', (b: Buffer) => (out += b.toString()));
        p.on('exit', (code) => resolve({ code, out }));
      });
    const good = await run();
    expect(good.code, good.out).toBe(0);
    expect(good.out).toMatch(new RegExp(`ok +${CHAIN}: 10 entries checked`));
    await redis.xdel(w.k.evidence(CHAIN), rows[2]![0]);
    const bad = await run();
    expect(bad.code, bad.out).toBe(1);
    expect(bad.out).toContain(`BROKEN  ${CHAIN}: missing at n=3 (entry ${rows[3]![0]})`);
  });
});

describe('retention', () => {
  const DAY = 86_400_000;

  it('trims an ended parcel past the period, after a checkpoint, and the chain still verifies', async () => {
    const w = world();
    const t0 = w.clock.now();
    const old: Parcel = { id: 'p_old', state: 'collected', unit: U, compartment: 3, size: 'S', phone: '13800000001', name: null, room: null, lang: 'zh', trackingNumber: 'T-OLD', carrier: 'SF', courierId: 'c1', createdAt: t0, storedAt: t0, deadline: null, endedAt: t0 + 1000, extended: false, reason: null, v: 3 };
    await redis.hset(w.k.parcel(old.id), 'j', JSON.stringify(old), 'v', 3, 'state', old.state);
    await redis.set(w.k.tracking(old.carrier, old.trackingNumber), old.id);
    // issue 12's forms: its id in the tracking bucket's field (after a newer parcel of the same number; another
    // carrier's parcel of that number stays), and in the search by phone tail
    const bucket = w.k.trackingBucket(trackingBucket('T-OLD'));
    await redis.hset(bucket, trackingField('SF', 'T-OLD'), `p_newer ${old.id}`, trackingField('JD', 'T-OLD'), 'p_jd');
    await redis.zadd(w.k.searchPhoneTail('0001'), old.createdAt, old.id);
    await redis.zadd(w.k.searchTracking('T-OLD'), old.createdAt, old.id);
    await redis.zadd(w.k.ended, old.endedAt!, old.id);
    await w.log.append(CHAIN, [
      { at: t0, kind: 'parcel', actor: { type: 'courier', id: 'c1' }, unit: U, compartment: 3, parcel: old.id, from: 'new', to: 'reserved', reason: 'deposit' },
      { at: t0 + 1, kind: 'door-opened', actor: { type: 'unit', id: U }, unit: U, compartment: 3, source: {} },
      { at: t0 + 1000, kind: 'parcel', actor: { type: 'unit', id: U }, unit: U, compartment: 3, parcel: old.id, from: 'collecting', to: 'collected', reason: 'closed-empty' },
    ]);
    await w.evidence.checkpoints.take(CHAIN); // the gateway checkpoints every minute

    // 181 days later: a parcel still live, deposited today
    w.clock.advance(181 * DAY);
    await redis.zadd(w.k.live, w.clock.now(), 'p_new');
    await w.log.append(CHAIN, [{ at: w.clock.now(), kind: 'parcel', actor: { type: 'courier', id: 'c1' }, unit: U, compartment: 4, parcel: 'p_new', from: 'new', to: 'reserved', reason: 'deposit' }]);
    await w.evidence.checkpoints.take(CHAIN);

    const r = await w.evidence.retention.run();
    expect(r).toEqual({ parcels: 1, entries: 3 });
    expect(await redis.exists(w.k.parcel(old.id), w.k.evParcel(old.id), w.k.tracking('SF', 'T-OLD'), w.k.searchPhoneTail('0001'), w.k.searchTracking('T-OLD'))).toBe(0);
    expect(await redis.hgetall(bucket)).toEqual({ [trackingField('SF', 'T-OLD')]: 'p_newer', [trackingField('JD', 'T-OLD')]: 'p_jd' });
    expect(await redis.zcard(w.k.evCompartment(U, 3))).toBe(0);
    const left = await redis.xrange(w.k.evidence(CHAIN), '-', '+');
    expect(left.map(([, f]) => JSON.parse(fieldMap(f).e!).parcel)).toEqual(['p_new']);
    const v = await w.evidence.verifier.verify(CHAIN);
    expect(v).toMatchObject({ ok: true, checked: 1, from: 4, to: 4 });

    // nothing more to trim: a second run changes nothing
    expect(await w.evidence.retention.run()).toEqual({ parcels: 0, entries: 0 });
  });
});
