import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { OpenGuard, WINDOW_MS, type OpenLimits, type OpenRequest } from '../../src/bus/open-guard.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { Actor } from '../../src/evidence/entry.js';
import { EvidenceLog, OFFICE_CHAIN, unitChain } from '../../src/evidence/log.js';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';
import { fieldMap } from '../../src/store/units.js';
import { TestRedis } from '../support/redis.js';

const [A, B, C] = UNITS.map((u) => u.id) as [string, string, string];
const courier: Actor = { type: 'courier', id: 'c_1' };
const staff: Actor = { type: 'staff', id: 's_1', name: 'member1' };
const admin: Actor = { type: 'staff', id: 's_2', name: 'boss' };
const LIMITS: OpenLimits = { perUnit: 6, fleet: 9, unexplainedPerUnit: 2, unexplainedFleet: 4 };

let server: TestRedis;
const conns: Redis[] = [];
let n = 0;

beforeAll(async () => {
  server = await new TestRedis().start();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await server.destroy();
});

/**
 * Two gateways on one Redis prefix: each its own Redis connection, evidence log (its own cached chain heads) and
 * open guard, one clock moved by the test. Everything they share lives in Redis.
 */
function gateways(limits: OpenLimits = LIMITS) {
  const prefix = `og${++n}:`;
  const clock = new ManualClock();
  const make = () => {
    const redis = server.client();
    conns.push(redis);
    const counters = new Counters();
    const guard = new OpenGuard({ redis, prefix, evidence: new EvidenceLog(redis, prefix), units: UNITS, limits, counters, logger: silentLogger, now: () => clock.now() });
    return { redis, guard, counters };
  };
  const one = make();
  const two = make();
  let id = 0;
  const req = (unit: string, actor: Actor, extra: Partial<OpenRequest> = {}): OpenRequest => ({ unit, compartment: 1 + (id % 20), commandId: `cmd-${++id}`, actor, ...extra });
  const entries = async (chain: string) =>
    (await one.redis.xrange(`${prefix}evidence:${chain}`, '-', '+')).map(([, f]) => JSON.parse(fieldMap(f).e!) as Record<string, any>);
  const outbox = async () =>
    (await one.redis.xrange(`${prefix}outbox`, '-', '+')).map(([, f]) => JSON.parse(fieldMap(f).notice!) as Record<string, any>);
  return { one, two, clock, req, entries, outbox, prefix };
}

describe('the open guard (two gateways on one Redis, an injected clock)', () => {
  it('limits opens per unit and across the fleet, counted together by both gateways, admins included; the window slides', async () => {
    const g = gateways();
    const ok: string[] = [];
    // explained opens (a courier's deposits) at A, alternating gateways: the sixth is the last
    for (let i = 0; i < 7; i++) {
      const a = await (i % 2 ? g.two : g.one).guard.admit(g.req(A, courier, { intent: 'deposit' }));
      ok.push(a.ok ? 'ok' : `${a.why}:${a.scope}`);
      if (!a.ok) expect(a.retryAfterMs).toBe(WINDOW_MS);
    }
    expect(ok).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited:unit']);
    // an admin's open is limited the same
    expect(await g.one.guard.admit(g.req(A, admin, { admin: true }))).toMatchObject({ ok: false, why: 'rate_limited', scope: 'unit' });
    // B has room of its own, the fleet three more
    g.clock.advance(10_000);
    for (let i = 0; i < 3; i++) expect((await g.two.guard.admit(g.req(B, courier, { intent: 'pickup' }))).ok).toBe(true);
    expect(await g.one.guard.admit(g.req(C, courier, { intent: 'return' }))).toMatchObject({ ok: false, why: 'rate_limited', scope: 'fleet', retryAfterMs: WINDOW_MS - 10_000 });
    // a minute after the first opens at A, their places free up
    g.clock.advance(WINDOW_MS - 10_000);
    expect((await g.two.guard.admit(g.req(A, courier, { intent: 'deposit' }))).ok).toBe(true);
    expect(g.one.counters.get('lg_opens_total', { unit: A, kind: 'explained', outcome: 'rate_limited' })).toBe(1);
    expect(g.one.counters.get('lg_opens_total', { unit: A, kind: 'unexplained', outcome: 'rate_limited' })).toBe(1);
  });

  it('never admits more than the limit when many opens arrive at once through both gateways (one atomic step)', async () => {
    const g = gateways({ ...LIMITS, perUnit: 7, fleet: 100 });
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? g.two : g.one).guard.admit(g.req(A, courier, { intent: 'pickup' }))));
    expect(all.filter((a) => a.ok)).toHaveLength(7);
  });

  it('a burst of unexplained opens at a unit locks it down once: evidence and one staff alert, written together', async () => {
    const g = gateways();
    // raw staff opens at A through both gateways: two pass, the third trips the lockdown and is refused
    expect((await g.one.guard.admit(g.req(A, staff))).ok).toBe(true);
    expect((await g.two.guard.admit(g.req(A, staff))).ok).toBe(true);
    const third = await g.two.guard.admit(g.req(A, staff));
    expect(third).toMatchObject({ ok: false, why: 'locked_down', scope: 'unit', tripped: { scope: 'unit', unit: A, cause: 'burst', by: { type: 'system', id: 'open-guard' } } });
    // every later open at A is refused, whoever asks and through either gateway, explained or not; nothing trips again
    const later = await Promise.all([g.one.guard.admit(g.req(A, staff)), g.two.guard.admit(g.req(A, courier, { intent: 'deposit' })), g.one.guard.admit(g.req(A, staff))]);
    expect(later.map((a) => (a.ok ? 'ok' : `${a.why}:${a.scope}:${a.tripped ? 'tripped' : '-'}`))).toEqual(['locked_down:unit:-', 'locked_down:unit:-', 'locked_down:unit:-']);
    // other units are not stopped
    expect((await g.one.guard.admit(g.req(B, courier, { intent: 'deposit' }))).ok).toBe(true);

    const lockdowns = (await g.entries(unitChain(A))).filter((e) => e.kind === 'lockdown');
    expect(lockdowns).toEqual([expect.objectContaining({ actor: { type: 'system', id: 'open-guard' }, unit: A, scope: 'unit', cause: 'burst', count: 3, trigger: expect.objectContaining({ actor: staff }) })]);
    const notices = (await g.outbox()).filter((x) => x.kind === 'lockdown');
    expect(notices).toEqual([expect.objectContaining({ to: { lang: 'zh', webhook: 'property' }, params: expect.objectContaining({ scope: 'unit', unit: A, cause: 'burst', count: 3 }) })]);
    expect(g.two.counters.get('lg_lockdowns_total', { scope: 'unit', cause: 'burst' })).toBe(1);
    expect(await g.one.guard.lockdownOf(A)).toMatchObject({ unit: A, cause: 'burst' });
    expect(await g.two.guard.lockdownOf(B)).toBeNull();
  });

  it("staff opens through a parcel's intent count as unexplained; a courier's or resident's do not", async () => {
    const g = gateways();
    for (let i = 0; i < 3; i++) expect((await g.one.guard.admit(g.req(A, i % 2 ? courier : { type: 'resident', phone: '138****0000' }, { intent: 'pickup' }))).ok).toBe(true);
    expect((await g.one.guard.admit(g.req(A, staff, { intent: 'pickup' }))).ok).toBe(true);
    expect((await g.two.guard.admit(g.req(A, staff, { intent: 'pickup' }))).ok).toBe(true);
    expect(await g.two.guard.admit(g.req(A, staff, { intent: 'pickup' }))).toMatchObject({ ok: false, why: 'locked_down', tripped: { unit: A } });
    expect(g.one.counters.get('lg_opens_total', { unit: A, kind: 'explained', outcome: 'admitted' })).toBe(3);
  });

  it('unexplained opens spread over the units lock the whole fleet down (office chain); an admin passes and still trips it', async () => {
    const g = gateways();
    for (const u of [A, B, A, B]) expect((await g.one.guard.admit(g.req(u, staff))).ok).toBe(true);
    // the fifth unexplained open in the fleet, by an admin at C: admitted, and the fleet is locked down
    const fifth = await g.two.guard.admit(g.req(C, admin, { admin: true }));
    expect(fifth).toMatchObject({ ok: true, tripped: { scope: 'fleet', unit: null, cause: 'burst' } });
    for (const u of [A, B, C]) expect(await g.one.guard.admit(g.req(u, courier, { intent: 'deposit' }))).toMatchObject({ ok: false, why: 'locked_down', scope: 'fleet' });
    expect((await g.one.guard.admit(g.req(C, admin, { admin: true }))).ok).toBe(true);
    expect((await g.entries(OFFICE_CHAIN)).filter((e) => e.kind === 'lockdown')).toEqual([expect.objectContaining({ scope: 'fleet', count: 5 })]);
    expect((await g.outbox()).filter((x) => x.kind === 'lockdown')).toHaveLength(1);
    expect(await g.two.guard.overview()).toMatchObject({ fleet: { scope: 'fleet' }, units: { [A]: null, [B]: null, [C]: null } });
  });

  it('a lockdown by hand is kept as it is when asked again; lifting records the admin and starts the window afresh', async () => {
    const g = gateways();
    const first = await g.one.guard.lockDown(B, staff, 'door 7 found open at night');
    expect(first).toMatchObject({ created: true, lockdown: { scope: 'unit', unit: B, cause: 'manual', reason: 'door 7 found open at night', by: staff } });
    expect(await g.two.guard.lockDown(B, admin, 'again')).toMatchObject({ created: false, lockdown: { reason: 'door 7 found open at night' } });
    expect((await g.outbox()).filter((x) => x.kind === 'lockdown')).toEqual([expect.objectContaining({ params: expect.objectContaining({ cause: 'manual', by: 'member1', reason: 'door 7 found open at night' }) })]);

    // two unexplained opens by an admin while locked down, then lifted: the next two raw opens do not trip it again
    for (let i = 0; i < 2; i++) expect((await g.one.guard.admit(g.req(B, admin, { admin: true }))).ok).toBe(true);
    expect(await g.two.guard.lift(B, admin)).toMatchObject({ unit: B, cause: 'manual' });
    expect(await g.two.guard.lift(B, admin)).toBeNull();
    for (let i = 0; i < 2; i++) expect((await g.one.guard.admit(g.req(B, staff))).ok).toBe(true);
    // …and the third since the lift trips it again
    expect(await g.two.guard.admit(g.req(B, staff))).toMatchObject({ ok: false, tripped: { scope: 'unit', unit: B } });
    expect((await g.entries(unitChain(B))).map((e) => [e.kind, e.actor.name ?? e.actor.id])).toEqual([
      ['lockdown', 'member1'],
      ['lockdown-lifted', 'boss'],
      ['lockdown', 'open-guard'],
    ]);
  });
});
