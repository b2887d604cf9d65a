import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/stack.js';
import {
  COMPACT_V2,
  COURIER_SECRET,
  FRAME_485,
  HOUR,
  JSON_V1,
  PROPERTY_SECRET,
  ParcelWorld,
  signatureOk,
  smsText,
  type TestCourier,
} from '../support/parcels.js';

const REMINDER_H = 0.0008; // 2.88 s after storing
const HOLD_H = 0.0016; // deadline 5.76 s after storing

/**
 * Timers with tiny hours: a reminder for a parcel left in the locker (never for one collected before), the deadline
 * passing (overdue to the resident, overdue-courier to the courier's webhook), the courier taking it back, and the
 * resident extending an overdue parcel.
 */
describe('parcels: reminders, deadlines and courier returns', () => {
  const world = new ParcelWorld({ REMINDER_HOURS: String(REMINDER_H), HOLD_HOURS: String(HOLD_H), EXTEND_HOURS: '48' });
  let courier: TestCourier;
  let other: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier({ webhook: true });
    other = await world.courier({ carrier: 'JD' });
  });
  afterAll(() => world.stop());

  it('reminder for a parcel left in the locker, none for one collected; overdue → return by its courier → returned', async () => {
    // Stored first and collected well before its reminder is due.
    const early = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    await world.collectAtKeypad(JSON_V1, early.code, early.parcel.compartment);
    const collected = await world.waitState(courier, early.parcel.id, 'collected');
    expect(collected.endedAt - early.parcel.storedAt).toBeLessThan(REMINDER_H * HOUR);

    // Two parcels left in the lockers.
    const leftPhone = world.phone();
    const left = await world.storeParcel(courier, { unit: COMPACT_V2, size: 'M', phone: leftPhone });
    const latePhone = world.phone();
    const late = await world.storeParcel(courier, { unit: FRAME_485, size: 'S', phone: latePhone });
    expect(left.parcel.deadline).toBe(left.parcel.storedAt + HOLD_H * HOUR);

    const reminder = await world.smsFor(`${left.parcel.id}.reminder-${REMINDER_H}h`);
    expect(reminder.body).toMatchObject({ to: `+86${leftPhone}` });
    expect(smsText(reminder)).toMatch(/^【.+】提醒：您的包裹/);
    expect(smsText(reminder)).not.toContain(left.code);
    expect(reminder.at - left.parcel.storedAt).toBeGreaterThanOrEqual(REMINDER_H * HOUR - 50);
    await world.smsFor(`${late.parcel.id}.reminder-${REMINDER_H}h`);
    // The collected parcel's reminder (due before these two) was withdrawn.
    expect(world.smsTries(`${early.parcel.id}.reminder-${REMINDER_H}h`)).toEqual([]);

    // The deadline passes: overdue SMS to the resident, signed overdue-courier webhook to the courier.
    const expired = await world.waitState(courier, left.parcel.id, 'expired');
    expect(expired.reason).toBe('deadline-passed');
    const overdue = await world.smsFor(`${left.parcel.id}.overdue.${left.parcel.deadline}`);
    expect(smsText(overdue)).toContain('已过取件期限');
    const toCourier = await world.hook('/courier', 'overdue-courier', left.parcel.id);
    expect(signatureOk(toCourier, COURIER_SECRET)).toBe(true);
    expect(signatureOk(toCourier, PROPERTY_SECRET)).toBe(false);
    expect(toCourier.body).toMatchObject({ params: { unit: COMPACT_V2, compartment: left.parcel.compartment, phoneTail: leftPhone.slice(-4), state: 'expired' } });
    expect(toCourier.raw).not.toContain(`"${left.code}"`);
    expect(signatureOk(await world.hook('/hook', 'overdue', left.parcel.id), PROPERTY_SECRET)).toBe(true);
    // Collected in time, never overdue.
    expect(world.smsTries(`${early.parcel.id}.overdue.${early.parcel.deadline}`)).toEqual([]);

    // Only the courier who deposited it may take it back; only overdue parcels.
    const notTheirs = await world.request('POST', '/v1/returns', { parcelId: left.parcel.id }, other.auth);
    expect(notTheirs.status).toBe(404);
    expect(notTheirs.body.error.code).toBe('not_found');
    const notOverdue = await world.request('POST', '/v1/returns', { parcelId: early.parcel.id }, courier.auth);
    expect(notOverdue.status).toBe(409);
    expect(notOverdue.body.error.code).toBe('not_waiting');
    expect((await world.request('POST', '/v1/returns', { parcelId: left.parcel.id })).status).toBe(401);
    expect(world.sim(COMPACT_V2).snapshot().doors[left.parcel.compartment]!.open).toBe(false);

    const ret = await world.request('POST', '/v1/returns', { parcelId: left.parcel.id }, courier.auth);
    expect(ret.status).toBe(200);
    expect(ret.body).toMatchObject({ result: 'done', parcel: { id: left.parcel.id } });
    await world.doorOpen(COMPACT_V2, left.parcel.compartment);
    const sim = world.sim(COMPACT_V2);
    sim.takeParcel(left.parcel.compartment);
    sim.closeDoor(left.parcel.compartment);
    const returned = await world.waitState(courier, left.parcel.id, 'returned');
    expect(returned.reason).toBe('courier-took-back');
    const told = await world.smsFor(`${left.parcel.id}.returned`);
    expect(smsText(told)).toContain('已由快递员');
    expect(await world.transitions(COMPACT_V2, left.parcel.id)).toEqual([
      'new>reserved',
      'reserved>depositing',
      'depositing>stored',
      'stored>expired',
      'expired>returning',
      'returning>returned',
    ]);

    // The compartment is free again.
    const next = await world.deposit(courier, { unit: COMPACT_V2, size: 'M', phone: world.phone() });
    expect(next.status).toBe(201);
    expect(next.body.compartment).toBe(left.parcel.compartment);
    await world.doorOpen(COMPACT_V2, left.parcel.compartment);
    await world.waitState(courier, next.body.id, 'depositing');
    sim.closeDoor(left.parcel.compartment);
    await world.waitState(courier, next.body.id, 'cancelled');

    // The third parcel expired too; its resident extends it: waiting again, 48 h from now, once.
    await world.waitState(courier, late.parcel.id, 'expired');
    const client = world.client();
    const before = Date.now();
    const ext = await world.request('POST', `/v1/resident/parcels/${late.parcel.id}/extend`, { phone: latePhone, code: late.code }, client);
    expect(ext.status).toBe(200);
    expect(ext.body).toMatchObject({ state: 'stored', extended: true });
    expect(ext.body.deadline).toBeGreaterThanOrEqual(before + 48 * HOUR);
    expect(ext.body.deadline).toBeLessThanOrEqual(Date.now() + 48 * HOUR);
    const again = await world.request('POST', `/v1/resident/parcels/${late.parcel.id}/extend`, { phone: latePhone, code: late.code }, client);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_extended');
    // No longer overdue: the courier cannot take it back.
    const noReturn = await world.request('POST', '/v1/returns', { parcelId: late.parcel.id }, courier.auth);
    expect(noReturn.status).toBe(409);
    await world.collectAtKeypad(FRAME_485, late.code, late.parcel.compartment);
    await world.waitState(courier, late.parcel.id, 'collected');
    await eventually(() => world.smsTries(`${late.parcel.id}.collected`).length === 1, 8000, 'collected SMS');
  });
});
