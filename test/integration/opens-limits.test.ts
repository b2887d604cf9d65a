import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { CommandBus } from '../../src/bus/commands.js';
import { OpenGuard, OpenRefused, openLimits } from '../../src/bus/open-guard.js';
import type { Actor } from '../../src/evidence/entry.js';
import { EvidenceLog, unitChain } from '../../src/evidence/log.js';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';
import { UnitStore } from '../../src/store/units.js';
import { defaultOpenLimits, member, type Member } from '../support/opens.js';
import { COMPACT_V2, FRAME_485, JSON_V1, ParcelWorld } from '../support/parcels.js';
import { eventually } from '../support/stack.js';

/**
 * An admin, whom a lockdown does not stop, is stopped by the rate limits. And the limits and lockdowns are in Redis,
 * so every gateway on it shares them: a second command bus with its own open guard, evidence log and Redis
 * connection (a second gateway process in all but its MQTT session, which it borrows from the first) is held by the
 * first one's windows and lockdowns, and holds the first with its own. (opens-guard.test.ts counts two gateways'
 * opens together to the exact limit, on an injected clock.)
 */
describe('opening doors: limits shared by gateways, and the rate limits stop even an admin', () => {
  const world = new ParcelWorld(defaultOpenLimits());
  let staff: Member;
  let admin: Member;
  let redisB: Redis;
  let busB: CommandBus;
  let guardB: OpenGuard;
  const lockdownHooks = () => world.hooksOf('/hook', 'lockdown');
  /** a script of 67 requests and 60 real opens (~10 s on a loaded 2-core machine) gets the time its size needs */
  const SCENARIO_MS = 120_000;

  beforeAll(async () => {
    await world.start();
    staff = await member(world, 'staff');
    admin = await member(world, 'admin');
    const gw = world.stack.gw!;
    redisB = world.stack.redis.client();
    const prefix = world.stack.config.REDIS_PREFIX;
    const evidence = new EvidenceLog(redisB, prefix);
    const counters = new Counters();
    guardB = new OpenGuard({ redis: redisB, prefix, evidence, units: UNITS, limits: openLimits(world.stack.config), counters, logger: silentLogger, now: Date.now });
    busB = new CommandBus({ redis: redisB, prefix, drivers: gw.bus.drivers, store: new UnitStore(redisB, prefix, UNITS, evidence), logger: silentLogger, counters, timeoutMs: 3000, opens: guardB });
  }, SCENARIO_MS);
  afterAll(async () => {
    redisB?.disconnect();
    await world.stop();
  });

  it("an admin's script passes lockdowns but not the rate limits: 30 opens a minute at a unit, 60 across the fleet, then 429 with Retry-After", async () => {
    const started = Date.now();
    const script = async (unit: string, nos: number[]) => {
      const out: { no: number; status: number; retryAfter: string | null; scope?: string }[] = [];
      for (const no of nos) {
        const r = await world.request('POST', `/v1/units/${unit}/commands`, { op: 'open', compartment: no }, admin.auth);
        out.push({ no, status: r.status, retryAfter: r.headers.get('retry-after'), ...(r.status === 200 ? {} : { scope: r.body.error.details?.scope as string }) });
        if (r.status === 200) expect(r.body.result).toBe('done');
        else expect(r.body.error.code).toBe('rate_limited');
      }
      return out;
    };
    const json = await script(JSON_V1, UNITS[0]!.compartments.map((c) => c.no));
    expect(json.filter((a) => a.status === 200).map((a) => a.no)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(json.slice(30).map((a) => [a.status, a.scope])).toEqual(Array(6).fill([429, 'unit']));
    for (const a of json.slice(30)) expect(Number(a.retryAfter) > 0 && Number(a.retryAfter) <= 60, `Retry-After ${a.retryAfter}`).toBe(true);
    // another 30 at COMPACT_V2 fill the fleet's 60; the next open anywhere waits
    const compact = await script(COMPACT_V2, Array.from({ length: 30 }, (_, i) => i + 1));
    expect(compact.filter((a) => a.status === 200)).toHaveLength(30);
    expect((await script(FRAME_485, [1])).map((a) => [a.status, a.scope])).toEqual([[429, 'fleet']]);
    expect(Date.now() - started, 'the counts above hold when the script runs within one minute').toBeLessThan(60_000);

    // the admin's own burst was still reported: JSON_V1 (its sixth raw open there) and the fleet (the eleventh)
    await eventually(() => lockdownHooks().length === 2, 8000, 'two lockdown alerts');
    expect(lockdownHooks().map((h) => (h.body as { params: Record<string, unknown> }).params).map((p) => [p.scope, p.unit ?? null, p.count]).sort()).toEqual([
      ['fleet', null, 11],
      ['unit', JSON_V1, 6],
    ]);
    const counters = world.stack.gw!.counters;
    expect(counters.get('lg_opens_total', { unit: JSON_V1, kind: 'unexplained', outcome: 'rate_limited' })).toBe(6);
    expect(counters.get('lg_opens_total', { unit: FRAME_485, kind: 'unexplained', outcome: 'rate_limited' })).toBe(1);
  }, SCENARIO_MS);

  it('a second gateway on the same Redis is held by the first one\'s lockdowns and windows, and its lockdowns hold the first', async () => {
    const staffActor: Actor = { type: 'staff', id: staff.id, name: staff.name };
    const adminActor: Actor = { type: 'staff', id: admin.id, name: admin.name };
    const refusal = (p: Promise<unknown>) => p.then(() => 'sent', (e: unknown) => (e instanceof OpenRefused ? `${e.why}:${e.scope}` : String(e)));
    // the lockdowns gateway A tripped stop B's non-admin opens; A's full windows stop B's admin
    expect(await refusal(busB.send(FRAME_485, { op: 'open', compartment: 2 }, { actor: staffActor }))).toBe('locked_down:fleet');
    expect(await refusal(busB.send(FRAME_485, { op: 'open', compartment: 2 }, { actor: adminActor, admin: true }))).toBe('rate_limited:fleet');
    expect(await refusal(busB.send(JSON_V1, { op: 'open', compartment: 31 }, { actor: adminActor, admin: true }))).toBe('rate_limited:unit');

    // a lockdown made through B: A's API shows it and refuses the member there; staff are alerted once
    expect((await guardB.lockDown(FRAME_485, staffActor, 'seen on camera')).created).toBe(true);
    expect((await world.request('GET', `/v1/units/${FRAME_485}`)).body.lockedDown).toBe(true);
    expect((await world.request('DELETE', '/v1/admin/lockdown', undefined, admin.auth)).status).toBe(200);
    const viaA = await world.request('POST', `/v1/units/${FRAME_485}/commands`, { op: 'open', compartment: 3 }, staff.auth);
    expect([viaA.status, viaA.body.error.code, viaA.body.error.details]).toEqual([503, 'locked_down', { scope: 'unit' }]);
    await eventually(() => lockdownHooks().length === 3, 8000, 'the third lockdown alert');
    // both gateways' evidence logs appended to FRAME_485's chain: it still verifies
    expect(await world.stack.gw!.evidence.verifier.verify(unitChain(FRAME_485))).toMatchObject({ ok: true });
  });
});
