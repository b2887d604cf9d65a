import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unitChain } from '../../src/evidence/log.js';
import { keys } from '../../src/store/keys.js';
import { COMPACT_V2, FRAME_485, JSON_V1, ParcelWorld, STAFF, type TestCourier } from '../support/parcels.js';
import { eventually } from '../support/stack.js';

const k = keys('lg:');

describe('the evidence log and the parcel engine, end to end', () => {
  const world = new ParcelWorld({ ENGINE_BACKOFF_MS: '20', ENGINE_MAX_ATTEMPTS: '3' });
  let courier: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier({ carrier: 'SF' });
  });
  afterAll(() => world.stop());

  it('one corrupt record: the bad entry goes to the dead letters, staff are told once, every other compartment and unit carries on', async () => {
    const redis = world.stack.gw!.redis;
    // a parcel reserved at LSN-0001, whose slot record is then corrupted
    const bad = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    expect(bad.status).toBe(201);
    await world.doorOpen(JSON_V1, bad.body.compartment);
    await redis.hset(k.slot(JSON_V1, bad.body.compartment), 'j', '{"unit":"LSN-0001", corrupted');
    world.sim(JSON_V1).putParcel(bad.body.compartment);
    world.sim(JSON_V1).closeDoor(bad.body.compartment);

    // meanwhile: whole deposits at the same unit and at the two others complete
    for (const unit of [JSON_V1, COMPACT_V2, FRAME_485]) {
      const { parcel } = await world.storeParcel(courier, { unit, size: 'S', phone: world.phone() });
      expect(parcel.state).toBe('stored');
    }

    const hook = await world.hook('/hook', 'dead-letter');
    expect(hook.body).toMatchObject({ kind: 'dead-letter', params: { unit: JSON_V1, what: 'door-closed' } });
    const dead = await world.request('GET', '/v1/admin/dead-letters', undefined, STAFF);
    expect(dead.status).toBe(200);
    expect(dead.body.deadLetters).toHaveLength(1);
    expect(dead.body.deadLetters[0]).toMatchObject({ unit: JSON_V1, attempts: '3' });
    expect(JSON.parse(dead.body.deadLetters[0].event)).toMatchObject({ kind: 'door-closed', compartment: bad.body.compartment });
    expect((await world.request('GET', '/v1/admin/dead-letters')).status).toBe(401);
    // acknowledged, not retried for ever; told once
    await eventually(async () => Number((await redis.xpending(k.events(JSON_V1), 'parcels'))[0]) === 0, 5000, 'nothing pending');
    expect(world.hooksOf('/hook', 'dead-letter')).toHaveLength(1);
    const text = await world.stack.metrics();
    expect(text).toMatch(/lg_engine_dead_letters_total\{unit="LSN-0001"\} 1/);
    // and the evidence log says so, in a chain that still verifies
    const verify = await world.request('GET', '/v1/admin/evidence/verify', undefined, STAFF);
    expect(verify.body.ok).toBe(true);
    const log = await world.request('GET', `/v1/units/${JSON_V1}/events?limit=100`, undefined, STAFF);
    expect(log.body.events.some((e: { event: { kind: string } }) => e.event.kind === 'dead-letter')).toBe(true);
  });

  it('a burst of concurrent changes at one compartment loses no door event', async () => {
    const redis = world.stack.gw!.redis;
    const dep = await world.deposit(courier, { unit: COMPACT_V2, size: 'S', phone: world.phone() });
    const no = dep.body.compartment as number;
    // Other writers keep changing the compartment's slot (its version moves on every write) while the door events
    // are applied: each step of the engine conflicts again and again, and must be planned again until it applies.
    const slotKey = k.slot(COMPACT_V2, no);
    // Four writers, 150 changes each, as fast as Redis takes them (more than any plan's retries used to allow).
    const bump = "redis.call('HINCRBY', KEYS[1], 'v', 1)";
    const writer = async () => {
      for (let i = 0; i < 150; i++) await redis.eval(bump, 1, slotKey);
    };
    const retriesBefore = Number(/lg_parcel_step_retries_total (\d+)/.exec(await world.stack.metrics())?.[1] ?? 0);
    await world.doorOpen(COMPACT_V2, no);
    const burst = Promise.all([writer(), writer(), writer(), writer()]);
    world.sim(COMPACT_V2).putParcel(no);
    world.sim(COMPACT_V2).closeDoor(no);
    await burst;
    await world.waitState(courier, dep.body.id, 'stored', 15_000);
    const retries = Number(/lg_parcel_step_retries_total (\d+)/.exec(await world.stack.metrics())?.[1] ?? 0);
    expect(retries - retriesBefore).toBeGreaterThan(0);
    expect(await world.transitions(COMPACT_V2, dep.body.id)).toEqual(['new>reserved', 'reserved>depositing', 'depositing>stored']);
  });

  it("a parcel's timeline: the deposit, two wrong codes, a staff open with its reason, the collection — and nothing else", async () => {
    const { parcel, code } = await world.storeParcel(courier, { unit: JSON_V1, size: 'M', phone: world.phone() });
    const sim = world.sim(JSON_V1);
    // someone else's parcel at the same unit at the same time: none of its entries belong in this timeline
    const other = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    const wrong = (i: number) => (code === `11111${i}` ? `22222${i}` : `11111${i}`);
    const checked = async () =>
      ((await world.request('GET', `/v1/units/${JSON_V1}/events?limit=200`, undefined, STAFF)).body.events as { event: { kind: string; result?: string } }[]).filter(
        (e) => e.event.kind === 'code-checked' && e.event.result === 'wrong',
      ).length;
    const before = await checked();
    sim.typeCode(wrong(1));
    sim.typeCode(wrong(2));
    await eventually(async () => (await checked()) === before + 2, 8000, 'two wrong codes checked');

    // staff open it for a resident at the office; the parcel stays inside (they only look)
    const open = await world.request('POST', `/v1/admin/parcels/${parcel.id}/open`, { reason: 'resident asked us to check it is there' }, STAFF);
    expect(open.status).toBe(200);
    await world.doorOpen(JSON_V1, parcel.compartment);
    sim.closeDoor(parcel.compartment);
    await world.waitState(courier, parcel.id, 'stored');
    expect((await world.request('POST', `/v1/admin/parcels/${parcel.id}/open`, { reason: '' }, STAFF)).status).toBe(400);

    await world.collectAtKeypad(JSON_V1, code, parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
    await world.smsFor(`${parcel.id}.collected`);

    const t = await eventually(async () => {
      const r = await world.request('GET', `/v1/admin/parcels/${parcel.id}/timeline`, undefined, STAFF);
      // the collected SMS's delivery is recorded once the provider accepted it
      return r.body.items?.some((i: { kind: string; entry: { noticeKind?: string } }) => i.kind === 'notice' && i.entry.noticeKind === 'collected') ? r : null;
    }, 8000, 'timeline with the collected notice delivered');
    const items = t.body.items as { kind: string; origin: string; n: number; entry: Record<string, any> }[];
    // in chain order, each with its position
    expect(items.map((i) => i.n)).toEqual([...items.map((i) => i.n)].sort((a, b) => a - b));
    // nothing of the other parcel, nothing of other compartments
    expect(items.filter((i) => i.entry.parcel === other.parcel.id)).toEqual([]);
    expect(items.filter((i) => i.entry.compartment !== undefined && i.entry.compartment !== parcel.compartment)).toEqual([]);

    const transitions = items.filter((i) => i.kind === 'parcel').map((i) => `${i.entry.from}>${i.entry.to}`);
    expect(transitions).toEqual(['new>reserved', 'reserved>depositing', 'depositing>stored', 'stored>collecting', 'collecting>stored', 'stored>collecting', 'collecting>collected']);
    expect(items[0]!.entry).toMatchObject({ kind: 'parcel', to: 'reserved', actor: { type: 'courier', id: courier.id } });
    const codes = items.filter((i) => i.kind === 'code-checked').map((i) => i.entry.result);
    expect(codes).toEqual(['wrong', 'wrong', 'right']);
    for (const c of items.filter((i) => i.kind === 'code-entered' || i.kind === 'code-checked')) expect(c.entry.code).toMatch(/^\d\d\*{4}$/);
    expect(items.filter((i) => i.kind === 'code-entered').map((i) => i.origin)).toEqual(['unit', 'unit', 'unit']);
    const staffOpen = items.find((i) => i.kind === 'staff-open')!;
    expect(staffOpen.entry).toMatchObject({ actor: { type: 'staff', name: 'bootstrap' }, reason: 'resident asked us to check it is there' });
    const opens = items.filter((i) => i.kind === 'command' && i.entry.op === 'open' && i.entry.state === 'done');
    expect(opens.map((i) => i.entry.actor.type)).toEqual(['courier', 'staff', 'unit']);
    const doors = items.filter((i) => i.kind === 'door-opened' || i.kind === 'door-closed');
    expect(doors.map((i) => i.kind)).toEqual(['door-opened', 'door-closed', 'door-opened', 'door-closed', 'door-opened', 'door-closed']);
    const notices = items.filter((i) => i.kind === 'notice' && i.entry.result === 'sent').map((i) => i.entry.noticeKind);
    expect(notices).toEqual(expect.arrayContaining(['stored', 'collected']));
    expect(items.at(-1)!.kind === 'notice' || items.at(-1)!.kind === 'parcel').toBe(true);
    expect((await world.request('GET', `/v1/admin/parcels/${parcel.id}/timeline`)).status).toBe(401);
  });

  it('verify walks every chain: units and the office', async () => {
    const r = await world.request('GET', '/v1/admin/evidence/verify', undefined, STAFF);
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    const chains = r.body.chains.map((c: { chain: string }) => c.chain);
    expect(chains).toEqual(expect.arrayContaining([unitChain(JSON_V1), unitChain(COMPACT_V2), unitChain(FRAME_485), 'office']));
    expect((await world.request('GET', '/v1/admin/evidence/verify')).status).toBe(401);
  });
});
