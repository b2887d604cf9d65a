import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOW_COMPARTMENTS } from '../../devices/units.js';
import type { CommandInfo } from '../../simulators/index.js';
import { eventually } from '../support/stack.js';
import {
  COMPACT_V2,
  FRAME_485,
  JSON_V1,
  PROPERTY_SECRET,
  ParcelWorld,
  STAFF,
  presenceNow,
  signatureOk,
  streamAfter,
  type TestCourier,
} from '../support/parcels.js';

const LOCKOUT_MS = 2000;

/** The rules around deposits and pickups: allocation, consent, auth, validation, wrong-code limits, duplicates. */
describe('parcels: rules, limits and faults through the HTTP API', () => {
  const world = new ParcelWorld({ LOCKOUT_MS: String(LOCKOUT_MS) });
  let courier: TestCourier;
  let other: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier({ carrier: 'SF' });
    other = await world.courier({ carrier: 'JD' });
  });
  afterAll(() => world.stop());

  /** Open a reserved compartment's door and close it empty: the deposit is cancelled, the compartment freed. */
  async function cancel(unit: string, id: string, no: number): Promise<void> {
    await world.doorOpen(unit, no);
    await world.waitState(courier, id, 'depositing');
    world.sim(unit).closeDoor(no);
    await world.waitState(courier, id, 'cancelled');
  }

  async function duplicatesDropped(unit: string): Promise<number> {
    const text = await world.stack.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`lg_duplicates_total{unit="${unit}"}`));
    return line ? Number(line.split(' ')[1]) : 0;
  }

  it('no or a bad courier token is 401; bad fields are 400 naming the field', async () => {
    const body = { unit: JSON_V1, size: 'S', phone: world.phone(), trackingNumber: world.tracking(), carrier: 'SF' };
    const none = await world.request('POST', '/v1/deposits', body);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    const bogus = await world.request('POST', '/v1/deposits', body, { authorization: 'Bearer lgc_not-a-real-token' });
    expect(bogus.status).toBe(401);
    const staffIsNoCourier = await world.request('POST', '/v1/deposits', body, STAFF);
    expect(staffIsNoCourier.status).toBe(401);
    expect((await world.request('GET', '/v1/deposits/p_whatever')).status).toBe(401);
    expect((await world.request('POST', '/v1/admin/couriers', { name: 'x', carrier: 'SF' })).status).toBe(401);

    for (const [field, bad] of [
      ['size', { size: 'XXL' }],
      ['phone', { phone: '12345678' }],
      ['trackingNumber', { trackingNumber: 'a b' }],
      ['carrier', { carrier: '' }],
    ] as const) {
      const r = await world.request('POST', '/v1/deposits', { ...body, ...bad }, courier.auth);
      expect(r.status, field).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
      expect(r.body.error.message).toContain(field);
      expect(r.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
    const missing = await world.request('POST', '/v1/deposits', { unit: JSON_V1, size: 'S' }, courier.auth);
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/trackingNumber/);
    expect(missing.body.error.message).toMatch(/phone/);
    const unknownUnit = await world.request('POST', '/v1/deposits', { ...body, unit: 'NOPE' }, courier.auth);
    expect(unknownUnit.status).toBe(404);
    // Nothing was reserved by any of them.
    expect((await world.request('GET', `/v1/units/${JSON_V1}/events?limit=50`, undefined, STAFF)).body.events.filter((e: { event: { kind: string } }) => e.event.kind === 'parcel')).toEqual([]);
  });

  it('consent refused: 422 consent_refused, nothing opens', async () => {
    const phone = world.phone();
    await world.prefs(phone, { consent: 'refused' });
    const opens: CommandInfo[] = [];
    const sim = world.sim(JSON_V1);
    const onCommand = (c: CommandInfo) => c.op === 'open' && opens.push(c);
    sim.on('command', onCommand);
    const r = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone });
    sim.off('command', onCommand);
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('consent_refused');
    expect(opens).toEqual([]);
    // Given again at the office: allowed.
    await world.prefs(phone, { consent: 'allowed' });
    const ok = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone });
    expect(ok.status).toBe(201);
    await cancel(JSON_V1, ok.body.id, ok.body.compartment);
  });

  it('a resident who asked for a low compartment gets one of LOW_COMPARTMENTS; others get the smallest number', async () => {
    const plain = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    expect(plain.body.compartment).toBe(1);
    expect(LOW_COMPARTMENTS[JSON_V1]).not.toContain(1);
    await cancel(JSON_V1, plain.body.id, 1);

    for (const unit of [JSON_V1, COMPACT_V2]) {
      const phone = world.phone();
      await world.prefs(phone, { lowCompartment: true });
      const low = await world.deposit(courier, { unit, size: 'S', phone });
      expect(low.status).toBe(201);
      expect(LOW_COMPARTMENTS[unit]).toContain(low.body.compartment);
      // Still the smallest size that fits: the lowest-numbered low S compartment.
      expect(low.body.compartment).toBe(unit === JSON_V1 ? 5 : 4);
      await cancel(unit, low.body.id, low.body.compartment);
    }
  });

  it('the same tracking number asked again is the same parcel (no second door); another courier cannot see or reuse it (404/409)', async () => {
    const body = { unit: COMPACT_V2, size: 'M' as const, phone: world.phone(), trackingNumber: world.tracking() };
    const first = await world.deposit(courier, body);
    expect(first.status).toBe(201);
    const opens: CommandInfo[] = [];
    const sim = world.sim(COMPACT_V2);
    const onCommand = (c: CommandInfo) => c.op === 'open' && opens.push(c);
    sim.on('command', onCommand);
    const again = await world.deposit(courier, body);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.compartment).toBe(first.body.compartment);

    const theirs = await world.request('GET', `/v1/deposits/${first.body.id}`, undefined, other.auth);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('not_found');
    const reuse = await world.deposit(other, body);
    expect(reuse.status).toBe(409);
    sim.off('command', onCommand);
    expect(opens).toEqual([]);

    await world.doorOpen(COMPACT_V2, first.body.compartment);
    sim.putParcel(first.body.compartment);
    sim.closeDoor(first.body.compartment);
    await world.waitState(courier, first.body.id, 'stored');
    // Stored: still the same parcel for its courier.
    const stillSame = await world.deposit(courier, body);
    expect(stillSame.body).toMatchObject({ id: first.body.id, state: 'stored' });
  });

  it('the same deposit sent several times at once reserves one compartment and answers with one parcel', async () => {
    const body = { unit: JSON_V1, size: 'S' as const, phone: world.phone(), trackingNumber: world.tracking() };
    const answers = await Promise.all(Array.from({ length: 5 }, () => world.deposit(courier, body)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const no = answers[0]!.body.compartment as number;
    expect(new Set(answers.map((a) => a.body.compartment))).toEqual(new Set([no]));
    await world.doorOpen(JSON_V1, no);
    const sim = world.sim(JSON_V1);
    sim.putParcel(no);
    sim.closeDoor(no);
    await world.waitState(courier, answers[0]!.body.id, 'stored');
    // no other compartment was left reserved by the losers of the race
    const unit = await world.unitState(JSON_V1);
    const reserved = await world.stack.gw!.redis.smembers('lg:slots:' + JSON_V1);
    expect(reserved.map(Number).filter((n) => !unit.compartments[n - 1].occupied)).toEqual([]);
  });

  it('staff close a compartment or a whole unit down: no new parcels go there; reopened, they do', async () => {
    const service = (path: string, outOfService: boolean) =>
      world.request('PUT', path, { outOfService, reason: 'door sticks' }, STAFF);
    // compartment 1 (the smallest S) out of service: the next S deposit gets another one
    expect((await world.request('PUT', `/v1/units/${FRAME_485}/compartments/1/service`, { outOfService: true })).status).toBe(401);
    const closed = await service(`/v1/units/${FRAME_485}/compartments/1/service`, true);
    expect(closed.status).toBe(200);
    expect(closed.body.compartments[0]).toMatchObject({ no: 1, outOfService: true });
    const dep = await world.deposit(courier, { unit: FRAME_485, size: 'S', phone: world.phone() });
    expect(dep.status).toBe(201);
    expect(dep.body.compartment).not.toBe(1);
    // the whole unit closed down: 503 naming the nearest open unit
    expect((await service(`/v1/units/${FRAME_485}/service`, true)).body.outOfService).toBe(true);
    const refused = await world.deposit(courier, { unit: FRAME_485, size: 'S', phone: world.phone() });
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toMatch(/closed down by staff/);
    expect(refused.body.error.details.nearest.unit).toBeDefined();
    // the audit trail has both changes, with who and why
    const log = await world.request('GET', `/v1/units/${FRAME_485}/events?limit=100`, undefined, STAFF);
    const changes = log.body.events.filter((e: { event: { kind: string } }) => e.event.kind === 'service').map((e: any) => [e.event.compartment ?? null, e.event.outOfService, e.event.reason]);
    expect(changes).toEqual([
      [null, true, 'staff: door sticks'],
      [1, true, 'staff: door sticks'],
    ]);
    // reopened
    await service(`/v1/units/${FRAME_485}/service`, false);
    await service(`/v1/units/${FRAME_485}/compartments/1/service`, false);
    expect((await world.deposit(courier, { unit: FRAME_485, size: 'S', phone: world.phone() })).status).toBe(201);
    expect((await world.request('PUT', `/v1/units/${FRAME_485}/compartments/99/service`, { outOfService: true }, STAFF)).status).toBe(404);
  });

  it('unit full: 409 no_compartment naming the nearest unit with a free XL compartment', async () => {
    const a = await world.storeParcel(courier, { unit: JSON_V1, size: 'XL', phone: world.phone() });
    const b = await world.storeParcel(courier, { unit: JSON_V1, size: 'XL', phone: world.phone() });
    expect([a.parcel.compartment, b.parcel.compartment]).toEqual([35, 36]);

    const full = await world.deposit(courier, { unit: JSON_V1, size: 'XL', phone: world.phone() });
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('no_compartment');
    // a4c138f0e2d1 (≈270 m away, XL 29–30) is nearer than 861234567890123 (no XL at all).
    expect(full.body.error.details.nearest).toMatchObject({ unit: COMPACT_V2, freeCompartments: 2, distanceM: expect.any(Number) });
    expect(full.body.error.details.nearest.distanceM).toBeLessThan(500);

    // Without a unit the deposit goes where there is room.
    const anywhere = await world.deposit(courier, { size: 'XL', phone: world.phone() });
    expect(anywhere.status).toBe(201);
    expect(anywhere.body).toMatchObject({ unit: COMPACT_V2, compartment: 29 });
    await cancel(COMPACT_V2, anywhere.body.id, 29);

    // Collected, the XL compartment is free again.
    await world.collectAtKeypad(JSON_V1, a.code, 35);
    await world.waitState(courier, a.parcel.id, 'collected');
    const now = await world.deposit(courier, { unit: JSON_V1, size: 'XL', phone: world.phone() });
    expect(now.status).toBe(201);
    expect(now.body.compartment).toBe(35);
    await cancel(JSON_V1, now.body.id, 35);
    await world.collectAtKeypad(JSON_V1, b.code, 36);
    await world.waitState(courier, b.parcel.id, 'collected');
  });

  it.each([JSON_V1, COMPACT_V2])('%s: duplicated messages (duplicateRate 1): the right code typed once opens the door once', async (unit) => {
    const sim = world.sim(unit);
    sim.setFaults({ duplicateRate: 1 });
    try {
      const phone = world.phone();
      const { parcel, code } = await world.storeParcel(courier, { unit, size: 'S', phone });
      const commands: CommandInfo[] = [];
      const onCommand = (c: CommandInfo) => commands.push(c);
      sim.on('command', onCommand);
      const mark = (await world.request('GET', `/v1/units/${unit}/events?limit=1`, undefined, STAFF)).body.events[0].streamId as string;
      const dupsBefore = await duplicatesDropped(unit);

      await world.collectAtKeypad(unit, code, parcel.compartment);
      await world.waitState(courier, parcel.id, 'collected');
      await world.smsFor(`${parcel.id}.collected`);
      sim.off('command', onCommand);

      // The unit did send everything twice, and the gateway dropped the repeats.
      expect(await duplicatesDropped(unit)).toBeGreaterThan(dupsBefore);
      expect(commands.filter((c) => c.op === 'open' && !c.duplicate)).toHaveLength(1);
      expect(commands.filter((c) => c.op === 'open' && c.duplicate)).toHaveLength(0);
      // The duplicated keypad message was dropped as a repeat: one code-entered in the log, one open command.
      const events = (await world.request('GET', `/v1/units/${unit}/events?limit=200`, undefined, STAFF)).body.events as { streamId: string; event: any }[];
      const since = events.filter((e) => streamAfter(e.streamId, mark)).map((e) => e.event);
      expect(since.filter((e) => e.kind === 'code-entered')).toHaveLength(1);
      expect(since.filter((e) => e.kind === 'code-entered')[0].code).toBe(`${code.slice(0, 2)}****`);
      expect(since.filter((e) => e.kind === 'command' && e.op === 'open' && e.state === 'sent')).toHaveLength(1);
      expect(since.filter((e) => e.kind === 'door-opened' && e.compartment === parcel.compartment)).toHaveLength(1);
      expect(world.smsTo(phone).filter((r) => (r.body as { id: string }).id === `${parcel.id}.collected.sms`)).toHaveLength(1);
    } finally {
      sim.setFaults({ duplicateRate: 0 });
    }
  });

  it('5 wrong codes at one keypad lock it (webhook to the property); the sweep unlocks it after LOCKOUT_MS; staff can unlock it', async () => {
    const sim = world.sim(JSON_V1);
    const lockOut = async () => {
      for (let i = 1; i <= 5; i++) sim.typeCode(`00000${i}`);
      await eventually(async () => (await world.unitState(JSON_V1)).keypad === 'locked', 8000, 'keypad locked');
      // the state says locked at once; the unit is told right after
      await eventually(() => sim.snapshot().keypadEnabled === false || undefined, 8000, 'the unit told of the lock');
    };

    await lockOut();
    const lockedAt = Date.now();
    const hook = await world.hook('/hook', 'keypad-locked');
    expect(signatureOk(hook, PROPERTY_SECRET)).toBe(true);
    expect(hook.body).toMatchObject({ kind: 'keypad-locked', parcelId: null, params: { unit: JSON_V1 } });
    // Other units' keypads are not affected.
    expect((await world.unitState(COMPACT_V2)).keypad).toBe('enabled');

    // The lock runs out; the sweep enables the keypad again.
    await eventually(async () => (await world.unitState(JSON_V1)).keypad === 'enabled', LOCKOUT_MS + 5000, 'keypad enabled by the sweep');
    expect(Date.now() - lockedAt).toBeGreaterThanOrEqual(LOCKOUT_MS - 500);
    expect(sim.snapshot().keypadEnabled).toBe(true);

    // Locked again; staff unlock it at once (long before LOCKOUT_MS).
    await lockOut();
    const unauth = await world.request('DELETE', `/v1/units/${JSON_V1}/keypad-lock`);
    expect(unauth.status).toBe(401);
    const r = await world.request('DELETE', `/v1/units/${JSON_V1}/keypad-lock`, undefined, STAFF);
    expect(r.status).toBe(204);
    expect((await world.unitState(JSON_V1)).keypad).toBe('enabled');
    expect(sim.snapshot().keypadEnabled).toBe(true);
    expect((await world.request('DELETE', '/v1/units/NOPE/keypad-lock', undefined, STAFF)).status).toBe(404);

    // The keypad works again: the right code opens its door.
    const { parcel, code } = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    await world.collectAtKeypad(JSON_V1, code, parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
  });

  it('API limit: 5 failed remote pickups for one phone → 429 locked_out with Retry-After, even with the right code', async () => {
    const phone = world.phone();
    const { parcel, code } = await world.storeParcel(courier, { unit: FRAME_485, size: 'S', phone });
    const wrongCode = code === '111111' ? '222222' : '111111';
    for (let i = 0; i < 5; i++) {
      // From a different address each time: it is the phone that gets locked.
      const r = await world.request('POST', '/v1/pickups', { unit: FRAME_485, code: wrongCode, phone, presenceCode: presenceNow(FRAME_485) }, world.client());
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('wrong_code');
    }
    const locked = await world.request('POST', '/v1/pickups', { unit: FRAME_485, code, phone, presenceCode: presenceNow(FRAME_485) }, world.client());
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('locked_out');
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(LOCKOUT_MS / 1000));
    expect(world.sim(FRAME_485).snapshot().doors[parcel.compartment]!.open).toBe(false);
    // The listing is locked for that phone too.
    expect((await world.request('POST', '/v1/resident/parcels', { phone, code }, world.client())).status).toBe(429);

    // After the lock the right code works.
    const client = world.client();
    const ok = await eventually(
      async () => {
        const r = await world.request('POST', '/v1/pickups', { unit: FRAME_485, code, phone, presenceCode: presenceNow(FRAME_485) }, client);
        return r.status === 200 ? r : null;
      },
      LOCKOUT_MS + 5000,
      'pickup after the lock',
    );
    expect(ok.body).toMatchObject({ compartment: parcel.compartment, result: 'done' });
    await world.doorOpen(FRAME_485, parcel.compartment);
    const sim = world.sim(FRAME_485);
    sim.takeParcel(parcel.compartment);
    sim.closeDoor(parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
  });
});
