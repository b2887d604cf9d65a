import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPACT_V2, JSON_V1, ParcelWorld, type TestCourier } from '../support/parcels.js';
import { eventually } from '../support/stack.js';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../../src/config/credentials.js';
import { codeHash, maskCode } from '../../src/domain/codes.js';

describe('keypad limits only count wrong codes (issue 7, defect 6)', () => {
  const world = new ParcelWorld();
  let courier: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier({ carrier: 'SF' });
  });
  afterAll(() => world.stop());

  it('eight right codes typed at once at one unit open eight doors and lock nothing', async () => {
    const stored = [];
    for (let i = 0; i < 8; i++) stored.push(await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: world.phone() }));
    const sim = world.sim(JSON_V1);
    // As a unit replaying its buffer after a reconnect: all handled at once, far more than the lockout's 5 (handed to
    // the parcel service together, as the engine does with a batch of keypad events, each in its own lane).
    const key = Buffer.from(loadCredentials({ file: DEV_CREDENTIALS_FILE }).gateway.codeKeyHex!, 'hex');
    const gw = world.stack.gw!;
    await Promise.all(
      stored.map((s, i) =>
        gw.parcels.onUnitEvent({
          streamId: `${Date.now()}-${i}`,
          event: { unit: JSON_V1, at: gw.parcels.clock.now(), source: {}, kind: 'code-entered', code: maskCode(s.code), codeHash: codeHash(key, JSON_V1, s.code) },
        }),
      ),
    );
    for (const s of stored) await eventually(() => sim.snapshot().doors[s.parcel.compartment]?.open, 8000, `door ${s.parcel.compartment} open`);
    for (const s of stored) {
      sim.takeParcel(s.parcel.compartment);
      sim.closeDoor(s.parcel.compartment);
    }
    for (const s of stored) await world.waitState(courier, s.parcel.id, 'collected');
    expect((await world.unitState(JSON_V1)).keypad).toBe('enabled');
    expect(sim.snapshot().keypadEnabled).toBe(true);
    expect(world.hooksOf('/hook', 'keypad-locked')).toEqual([]);
  });

  it('five wrong codes still lock it, and the lock reaches the unit, the state, the metrics and staff', async () => {
    const sim = world.sim(COMPACT_V2);
    for (let i = 1; i <= 5; i++) sim.typeCode(`90000${i}`);
    await eventually(async () => (await world.unitState(COMPACT_V2)).keypad === 'locked', 8000, 'locked');
    await eventually(() => sim.snapshot().keypadEnabled === false || undefined, 8000, 'the unit told');
    await world.hook('/hook', 'keypad-locked');
    expect(await world.stack.metrics()).toMatch(/lg_keypad_locks_total\{unit="a4c138f0e2d1"\} 1/);
  });
});

describe('screens (issue 7, defect 5)', () => {
  const world = new ParcelWorld({ PRESENCE_CODES: 'on' });
  let courier: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier({ carrier: 'SF' });
  });
  afterAll(() => world.stop());

  it('the presence code shows as soon as a deposit door closes, not at the next minute', async () => {
    const sim = world.sim(JSON_V1);
    const dep = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    await world.doorOpen(JSON_V1, dep.body.compartment);
    await eventually(() => /put the parcel in/.test(sim.snapshot().display?.text ?? '') || undefined, 5000, 'deposit text');
    sim.putParcel(dep.body.compartment);
    sim.closeDoor(dep.body.compartment);
    await world.waitState(courier, dep.body.id, 'stored');
    // well within the minute (the minute's own refresh could only come by chance: the test would still pass then,
    // so it also checks the text came within 3 s of the close)
    const closedAt = Date.now();
    const text = await eventually(() => (/Presence code \d{4}/.test(sim.snapshot().display?.text ?? '') ? sim.snapshot().display!.text : undefined), 3000, 'presence code');
    expect(text).toMatch(/现场码 \d{4}/);
    expect(Date.now() - closedAt).toBeLessThan(3000);
  });
});
