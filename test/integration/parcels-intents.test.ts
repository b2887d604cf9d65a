import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/stack.js';
import { JSON_V1, COMPACT_V2, ParcelWorld, type TestCourier } from '../support/parcels.js';

/**
 * Why a door is opened (the slot's intent) outlives neither a failed open nor its timeout, and a door held open longer
 * than that timeout still ends in a pickup, not in a "missing" parcel.
 */
describe('parcels: pickup intents', () => {
  const world = new ParcelWorld({ INTENT_TIMEOUT_MS: '600' }, [{ id: JSON_V1 }, { id: COMPACT_V2 }]);
  let courier: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
  });
  afterAll(() => world.stop());

  it('a door held open past the intent timeout is still a pickup when it closes empty', async () => {
    const { parcel, code } = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    const sim = world.sim(JSON_V1);
    sim.typeCode(code);
    await world.doorOpen(JSON_V1, parcel.compartment);
    await world.waitState(courier, parcel.id, 'collecting');
    // well past INTENT_TIMEOUT_MS, with the sweep running every 100 ms
    await new Promise((r) => setTimeout(r, 1200));
    sim.takeParcel(parcel.compartment);
    sim.closeDoor(parcel.compartment);
    const done = await world.waitState(courier, parcel.id, 'collected');
    expect(done.reason).toBe('closed-empty');
    expect(world.hooksOf('/hook', 'missing', parcel.id)).toEqual([]);
  });

  it('a jammed lock gives the pickup up at once: the same code works once the lock is fixed', async () => {
    const { parcel, code } = await world.storeParcel(courier, { unit: COMPACT_V2, size: 'S', phone: world.phone() });
    const sim = world.sim(COMPACT_V2);
    const opens: unknown[] = [];
    sim.on('command', (c: { op: string; duplicate?: boolean }) => {
      if (c.op === 'open' && !c.duplicate) opens.push(c);
    });
    sim.setFaults({ jammed: [parcel.compartment] });
    sim.typeCode(code);
    await eventually(() => opens.length === 1, 5000, 'the jammed open');
    // the unit's screen tells the resident, once the gateway has given the pickup up
    await eventually(() => sim.snapshot().display?.text.includes('Call office'), 5000, 'open-failed message on the screen');
    expect((await world.parcel(courier, parcel.id)).state).toBe('stored');
    sim.setFaults({ jammed: [] });
    await world.collectAtKeypad(COMPACT_V2, code, parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
    expect(opens).toHaveLength(2);
  });
});
