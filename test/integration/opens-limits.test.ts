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
 * The limits are in Redis, so every gateway on it shares them: a second command bus with its own open guard, evidence
 * log and Redis connection (a second gateway process in all but its MQTT session, which it borrows from the first)
 * counts with the first. And an admin, whom a lockdown does not stop, is stopped by the rate limits.
 */
describe('opening doors: limits shared by gateways, and the rate limits stop even an admin', () => {
  const world = new ParcelWorld(defaultOpenLimits());
  let staff: Member;
  let admin: Member;
  let redisB: Redis;
  let busB: CommandBus;
  let started = 0;
  const lockdownHooks = () => world.hooksOf('/hook', 'lockdown');

  beforeAll(async () => {
    await world.start();
    staff = await member(world, 'staff');
    admin = await member(world, 'admin');
    const gw = world.stack.gw!;
    redisB = world.stack.redis.client();
    const prefix = world.stack.config.REDIS_PREFIX;
    const evidence = new EvidenceLog(redisB, prefix);
    const counters = new Counters();
    const opens = new OpenGuard({ redis: redisB, prefix, evidence, units: UNITS, limits: openLimits(world.stack.config), counters, logger: silentLogger, now: Date.now });
    busB = new CommandBus({ redis: redisB, prefix, drivers: gw.bus.drivers, store: new UnitStore(redisB, prefix, UNITS, evidence), logger: silentLogger, counters, timeoutMs: 3000, opens });
  });
  afterAll(async () => {
    redisB?.disconnect();
    await world.stop();
  });

  it('two gateways on one Redis count raw opens together: the sixth at a unit, through either, locks it down for both', async () => {
    started = Date.now();
    const actor: Actor = { type: 'staff', id: staff.id, name: staff.name };
    const busA = world.stack.gw!.bus.commands;
    for (let no = 1; no <= 5; no++) {
      const r = await (no % 2 ? busA : busB).send(COMPACT_V2, { op: 'open', compartment: no }, { actor, reason: 'staff' });
      expect(r.result).toBe('done');
    }
    const sixth = await busB.send(COMPACT_V2, { op: 'open', compartment: 6 }, { actor, reason: 'staff' }).catch((e: unknown) => e);
    expect(sixth).toBeInstanceOf(OpenRefused);
    expect(sixth).toMatchObject({ why: 'locked_down', scope: 'unit' });
    // gateway A's API sees the lockdown B tripped, and refuses the member
    expect((await world.request('GET', `/v1/units/${COMPACT_V2}`)).body.lockedDown).toBe(true);
    const viaA = await world.request('POST', `/v1/units/${COMPACT_V2}/commands`, { op: 'open', compartment: 7 }, staff.auth);
    expect([viaA.status, viaA.body.error.code]).toEqual([503, 'locked_down']);
    await eventually(() => lockdownHooks().length === 1, 8000, 'one lockdown alert');
    // both evidence logs appended to the unit's chain: it still verifies
    expect(await world.stack.gw!.evidence.verifier.verify(unitChain(COMPACT_V2))).toMatchObject({ ok: true });
    expect((await world.request('DELETE', `/v1/admin/lockdown/${COMPACT_V2}`, undefined, admin.auth)).status).toBe(200);
    for (let no = 1; no <= 5; no++) world.sim(COMPACT_V2).closeDoor(no);
  });

  it("an admin's script passes lockdowns but not the rate limits: 30 opens a minute at a unit, 60 across the fleet, then 429 with Retry-After", async () => {
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

    // COMPACT_V2 already had 5 opens this minute: 25 more, and the fleet has had 60
    const compact = await script(COMPACT_V2, Array.from({ length: 30 }, (_, i) => i + 1));
    expect(compact.filter((a) => a.status === 200)).toHaveLength(25);
    const frame = await script(FRAME_485, [1]);
    expect(frame.map((a) => [a.status, a.scope])).toEqual([[429, 'fleet']]);
    const elapsed = Date.now() - started;
    expect(elapsed, 'the counts above hold within one minute of the first open').toBeLessThan(60_000);

    // the admin's own burst was still reported: JSON_V1 (the sixth raw open there) and the fleet
    await eventually(() => lockdownHooks().length === 3, 8000, 'two more lockdown alerts');
    const params = lockdownHooks().map((h) => (h.body as { params: Record<string, unknown> }).params);
    expect(params.slice(1).map((p) => [p.scope, p.unit ?? null]).sort()).toEqual([
      ['fleet', null],
      ['unit', JSON_V1],
    ]);
    const counters = world.stack.gw!.counters;
    expect(counters.get('lg_opens_total', { unit: JSON_V1, kind: 'unexplained', outcome: 'rate_limited' })).toBe(6);
    expect(counters.get('lg_opens_total', { unit: FRAME_485, kind: 'unexplained', outcome: 'rate_limited' })).toBe(1);
  });
});
