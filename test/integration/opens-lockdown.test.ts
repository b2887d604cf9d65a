import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { eventually } from '../support/stack.js';
import { defaultOpenLimits, member, type Member } from '../support/opens.js';
import { COMPACT_V2, FRAME_485, JSON_V1, PROPERTY_SECRET, ParcelWorld, presenceNow, signatureOk, type TestCourier } from '../support/parcels.js';

/**
 * Issue 7, "Mass remote open": a staff token opened all 90 compartments in 1.3 s. Against the real stack with the
 * open guard's default settings: a day's burst of deposits and pickups is never limited; the same script of raw
 * opens is cut off and locks the units and the fleet down; staff are alerted once per lockdown; while locked down
 * deposits and pickups answer 503 locked_down and only an admin opens or lifts.
 */
describe('opening doors: a mass remote open trips a lockdown that only an admin lifts', () => {
  const world = new ParcelWorld(defaultOpenLimits());
  let courier: TestCourier;
  let staff: Member;
  let admin: Member;
  /** a parcel left waiting at FRAME_485 through the attack */
  let kept: { parcel: any; code: string; phone: string };
  const lockdownHooks = () => world.hooksOf('/hook', 'lockdown');
  const opened: { unit: string; no: number }[] = [];
  /**
   * These scenarios are big by nature (40 parcel flows; a script of 90 requests, ~100 ms each on a loaded 2-core
   * machine): they get the time their size needs. Every wait inside is on an event, never a sleep.
   */
  const SCENARIO_MS = 120_000;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
    staff = await member(world, 'staff');
    admin = await member(world, 'admin');
  }, SCENARIO_MS);
  afterAll(() => world.stop());

  const remotePickup = (unit: string, code: string, phone: string) =>
    world.request('POST', '/v1/pickups', { unit, code, phone, presenceCode: presenceNow(unit) }, world.client());

  /** Runs `fn` over `items`, `n` at a time (a few couriers and residents at each unit at once). */
  const few = async <T>(items: T[], n: number, fn: (x: T, i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }));
  };

  it("a day's burst of 40 deposits and pickups across the three units is never limited", async () => {
    const perUnit: [string, number][] = [[JSON_V1, 8], [COMPACT_V2, 8], [FRAME_485, 4]];
    await Promise.all(
      perUnit.map(async ([unit, count]) => {
        const stored: { phone: string; parcel: any; code: string }[] = [];
        await few(Array.from({ length: count }), 3, async () => {
          const phone = world.phone();
          stored.push({ phone, ...(await world.storeParcel(courier, { unit, size: 'S', phone })) });
        });
        await few(stored, 3, async (s, i) => {
          const no = s.parcel.compartment as number;
          if (i % 2) {
            await world.collectAtKeypad(unit, s.code, no);
          } else {
            const r = await remotePickup(unit, s.code, s.phone);
            expect(r.status, JSON.stringify(r.body)).toBe(200);
            await world.doorOpen(unit, no);
            world.sim(unit).takeParcel(no);
            world.sim(unit).closeDoor(no);
          }
          await world.waitState(courier, s.parcel.id, 'collected');
        });
      }),
    );
    const counters = world.stack.gw!.counters;
    expect(counters.get('lg_opens_total', { unit: JSON_V1, kind: 'explained', outcome: 'admitted' })).toBe(16);
    expect(counters.total('lg_opens_total')).toBe(40);
    expect(counters.total('lg_lockdowns_total')).toBe(0);
    const units = await world.request('GET', '/v1/units');
    expect(units.body.fleet).toEqual({ lockedDown: false });
    expect(units.body.units.map((u: { lockedDown: boolean }) => u.lockedDown)).toEqual([false, false, false]);
  }, SCENARIO_MS);

  it("a staff token's script opening every compartment is cut off after 10 doors, locks both units it reached and the fleet down, and alerts staff once per lockdown", async () => {
    const phone = world.phone();
    kept = { phone, ...(await world.storeParcel(courier, { unit: FRAME_485, size: 'S', phone })) };

    const answers: { unit: string; no: number; status: number; code: string }[] = [];
    for (const u of UNITS) {
      for (const c of u.compartments) {
        const r = await world.request('POST', `/v1/units/${u.id}/commands`, { op: 'open', compartment: c.no }, staff.auth);
        answers.push({ unit: u.id, no: c.no, status: r.status, code: r.status === 200 ? r.body.result : r.body.error.code });
        if (r.status === 503) expect(r.body.error.message).toMatch(/locked down.*call the property office/);
      }
    }
    const done = answers.filter((a) => a.status === 200);
    opened.push(...done);
    expect(done.map((a) => `${a.unit}#${a.no}:${a.code}`)).toEqual([
      ...[1, 2, 3, 4, 5].map((no) => `${JSON_V1}#${no}:done`),
      ...[1, 2, 3, 4, 5].map((no) => `${COMPACT_V2}#${no}:done`),
    ]);
    expect(answers.filter((a) => a.status !== 200).every((a) => a.status === 503 && a.code === 'locked_down')).toBe(true);
    expect(answers).toHaveLength(90);

    // The state: every unit locked down (two on their own, and the fleet)
    const units = await world.request('GET', '/v1/units');
    expect(units.body.fleet).toEqual({ lockedDown: true });
    expect(units.body.units.map((u: { id: string; lockedDown: boolean }) => [u.id, u.lockedDown])).toEqual(UNITS.map((u) => [u.id, true]));
    const detail = await world.request('GET', '/v1/admin/lockdown', undefined, staff.auth);
    expect(detail.body).toMatchObject({
      fleet: { scope: 'fleet', cause: 'burst', by: { type: 'system', id: 'open-guard' } },
      units: [
        { unit: JSON_V1, lockdown: { scope: 'unit', cause: 'burst' } },
        { unit: COMPACT_V2, lockdown: { scope: 'unit', cause: 'burst' } },
        { unit: FRAME_485, lockdown: null },
      ],
    });

    // Staff: one signed alert per lockdown, on the property webhook
    await eventually(() => lockdownHooks().length >= 3, 8000, 'three lockdown alerts');
    const alerts = lockdownHooks().map((h) => h.body as { id: string; params: Record<string, unknown> });
    expect(alerts.map((a) => [a.params.scope, a.params.unit ?? null, a.params.cause, a.params.count]).sort()).toEqual([
      ['fleet', null, 'burst', 11],
      ['unit', JSON_V1, 'burst', 6],
      ['unit', COMPACT_V2, 'burst', 6],
    ]);
    expect(lockdownHooks().every((h) => signatureOk(h, PROPERTY_SECRET))).toBe(true);

    // The evidence: the lockdown (actor system) and every refused open, with the member who tried
    const log = (await world.stack.log(JSON_V1, 1000)).map((r) => r.event as Record<string, any>);
    expect(log.filter((e) => e.kind === 'lockdown')).toEqual([
      expect.objectContaining({ actor: { type: 'system', id: 'open-guard' }, scope: 'unit', cause: 'burst', count: 6, trigger: expect.objectContaining({ compartment: 6, actor: expect.objectContaining({ id: staff.id }) }) }),
    ]);
    expect(log.filter((e) => e.kind === 'open-refused' && e.actor.id === staff.id)).toHaveLength(31);
    const gw = world.stack.gw!;
    expect(gw.counters.get('lg_lockdowns_total', { scope: 'unit', cause: 'burst' })).toBe(2);
    expect(gw.counters.get('lg_lockdowns_total', { scope: 'fleet', cause: 'burst' })).toBe(1);

    // The units' screens say so (FRAME_485's ASCII screen in English)
    await eventually(() => world.sim(JSON_V1).snapshot().display?.text.startsWith('暂停使用 请联系物业'), 5000, 'JSON_V1 screen');
    await eventually(() => world.sim(FRAME_485).snapshot().display?.text === 'Locked down: call the office', 5000, 'FRAME_485 screen');
    for (const { unit, no } of opened) world.sim(unit).closeDoor(no);
  }, SCENARIO_MS);

  it('while locked down, deposits and pickups answer 503 locked_down (call the office), staff can neither open nor lift; an admin opens and lifts', async () => {
    const deposit = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    expect(deposit.status).toBe(503);
    expect(deposit.body.error).toMatchObject({ code: 'locked_down', message: expect.stringMatching(/locked down.*call the property office/) });
    expect((await world.deposit(courier, { size: 'S', phone: world.phone() })).body.error.message).toMatch(/every unit is locked down/);

    const pickup = await remotePickup(FRAME_485, kept.code, kept.phone);
    expect(pickup.status).toBe(503);
    expect(pickup.body.error).toMatchObject({ code: 'locked_down', message: expect.stringContaining('请联系物业') });
    // at the keypad: the right code opens nothing; the refusal is evidence
    world.sim(FRAME_485).typeCode(kept.code);
    await eventually(
      async () => (await world.stack.log(FRAME_485, 200)).some((r) => r.event.kind === 'open-refused' && r.event.actor.type === 'unit' && r.event.compartment === kept.parcel.compartment),
      8000,
      'keypad open refused',
    );
    expect(world.sim(FRAME_485).snapshot().doors[kept.parcel.compartment]!.open).toBe(false);
    expect((await world.parcel(courier, kept.parcel.id)).state).toBe('stored');

    const staffOpen = await world.request('POST', `/v1/admin/parcels/${kept.parcel.id}/open`, { reason: 'resident at the office' }, staff.auth);
    expect([staffOpen.status, staffOpen.body.error.code]).toEqual([503, 'locked_down']);
    for (const path of ['/v1/admin/lockdown', `/v1/admin/lockdown/${JSON_V1}`]) {
      const r = await world.request('DELETE', path, undefined, staff.auth);
      expect([r.status, r.body.error.code]).toEqual([403, 'forbidden']);
    }

    // an admin's open passes the lockdown
    const adminOpen = await world.request('POST', `/v1/units/${JSON_V1}/commands`, { op: 'open', compartment: 36 }, admin.auth);
    expect(adminOpen.body).toMatchObject({ state: 'done', result: 'done' });
    world.sim(JSON_V1).closeDoor(36);

    // lifting the fleet leaves the units locked down on their own
    const liftFleet = await world.request('DELETE', '/v1/admin/lockdown', undefined, admin.auth);
    expect(liftFleet.body).toMatchObject({ lifted: { scope: 'fleet', cause: 'burst' } });
    let units = (await world.request('GET', '/v1/units')).body;
    expect([units.fleet.lockedDown, ...units.units.map((u: { lockedDown: boolean }) => u.lockedDown)]).toEqual([false, true, true, false]);
    for (const u of [JSON_V1, COMPACT_V2]) expect((await world.request('DELETE', `/v1/admin/lockdown/${u}`, undefined, admin.auth)).status).toBe(200);
    expect((await world.request('DELETE', `/v1/admin/lockdown/${JSON_V1}`, undefined, admin.auth)).status).toBe(404);
    units = (await world.request('GET', '/v1/units')).body;
    expect([units.fleet.lockedDown, ...units.units.map((u: { lockedDown: boolean }) => u.lockedDown)]).toEqual([false, false, false, false]);
    const lifted = (await world.stack.log(JSON_V1, 1000)).filter((r) => r.event.kind === 'lockdown-lifted');
    expect(lifted.map((r) => r.event.actor)).toEqual([{ type: 'staff', id: admin.id, name: admin.name }]);

    // back in service: the waiting parcel is collected, deposits open again
    const again = await remotePickup(FRAME_485, kept.code, kept.phone);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    await world.doorOpen(FRAME_485, kept.parcel.compartment);
    expect((await world.deposit(courier, { unit: JSON_V1, size: 'S', phone: world.phone() })).status).toBe(201);
  });

  it('any staff member locks a unit or the fleet down by hand with a reason (staff alerted); only an admin lifts it', async () => {
    expect((await world.request('POST', `/v1/admin/lockdown/${COMPACT_V2}`, { reason: 'x' })).status).toBe(401);
    const noReason = await world.request('POST', `/v1/admin/lockdown/${COMPACT_V2}`, {}, staff.auth);
    expect([noReason.status, noReason.body.error.code]).toEqual([400, 'validation_failed']);
    expect((await world.request('POST', '/v1/admin/lockdown/NOPE', { reason: 'a unit that is not' }, staff.auth)).status).toBe(404);

    const unit = await world.request('POST', `/v1/admin/lockdown/${COMPACT_V2}`, { reason: 'tamper alarm at night' }, staff.auth);
    expect(unit.status).toBe(201);
    expect(unit.body).toMatchObject({ scope: 'unit', unit: COMPACT_V2, cause: 'manual', reason: 'tamper alarm at night', by: { id: staff.id } });
    expect((await world.request('POST', `/v1/admin/lockdown/${COMPACT_V2}`, { reason: 'again' }, staff.auth)).status).toBe(200);
    expect((await world.deposit(courier, { unit: COMPACT_V2, size: 'S', phone: world.phone() })).body.error.code).toBe('locked_down');
    const fleet = await world.request('POST', '/v1/admin/lockdown', { reason: 'police asked us to' }, staff.auth);
    expect(fleet.status).toBe(201);
    expect((await world.deposit(courier, { unit: FRAME_485, size: 'S', phone: world.phone() })).status).toBe(503);

    await eventually(() => lockdownHooks().length >= 5, 8000, 'two more lockdown alerts');
    const manual = lockdownHooks().map((h) => (h.body as { params: Record<string, unknown> }).params).filter((p) => p.cause === 'manual');
    expect(manual).toHaveLength(2);
    expect(manual).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ scope: 'unit', unit: COMPACT_V2, by: staff.name, reason: 'tamper alarm at night' }),
        expect.objectContaining({ scope: 'fleet', by: staff.name, reason: 'police asked us to' }),
      ]),
    );
    expect((await world.request('DELETE', '/v1/admin/lockdown', undefined, staff.auth)).status).toBe(403);
    expect((await world.request('DELETE', '/v1/admin/lockdown', undefined, admin.auth)).status).toBe(200);
    expect((await world.request('DELETE', `/v1/admin/lockdown/${COMPACT_V2}`, undefined, admin.auth)).status).toBe(200);
    expect((await world.request('GET', '/v1/units')).body.units.every((u: { lockedDown: boolean }) => !u.lockedDown)).toBe(true);
    // every lockdown was alerted exactly once
    const ids = lockdownHooks().map((h) => (h.body as { id: string }).id);
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
  });
});
