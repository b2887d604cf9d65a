import { describe, expect, it } from 'vitest';
import type { Parcel, Slot } from '../../src/domain/parcel.js';
import { decodeParcel, decodeSlot, parcelFields, slotFields } from '../../src/store/records.js';

/** HSET arguments as HGETALL gives them back: every value a string. */
const asHash = (args: (string | number)[]): Record<string, string> => {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < args.length; i += 2) h[String(args[i])] = String(args[i + 1]);
  return h;
};

const parcel: Parcel = {
  id: '01JDZ8Q6W1T2X3Y4Z5A6B7C8D9',
  state: 'stored',
  unit: 'LSN-0001',
  compartment: 7,
  size: 'M',
  phone: '13812345678',
  name: null,
  room: '3-502',
  lang: 'zh',
  trackingNumber: 'SF1234567890',
  carrier: 'SF',
  courierId: 'c_01JDZ8',
  createdAt: 1764400000000,
  storedAt: 1764400012345,
  deadline: 1764572812345,
  endedAt: null,
  extended: false,
  reason: null,
  v: 3,
};

describe('parcel and slot records (one hash field per attribute)', () => {
  it('a parcel reads back as written, nulls and flags included; the version is the one stored', () => {
    expect(decodeParcel(asHash(parcelFields(parcel, 4)))).toEqual({ ...parcel, v: 4 });
    const ended: Parcel = { ...parcel, state: 'collected', name: '', endedAt: 1764500000000, extended: true, reason: 'collected by code', storedAt: null };
    expect(decodeParcel(asHash(parcelFields(ended, 9)))).toEqual({ ...ended, v: 9 });
  });

  it('keeps the fields the commit and tools read by name (v, state) and every value short enough for a listpack', () => {
    const h = asHash(parcelFields(parcel, 4));
    expect(h.v).toBe('4');
    expect(h.state).toBe('stored');
    for (const v of Object.values(h)) expect(v.length).toBeLessThanOrEqual(64);
  });

  it('reads a record written before (JSON in field j), and nothing from an empty hash', () => {
    const old = { j: JSON.stringify(parcel), v: '3', state: 'stored' };
    expect(decodeParcel(old)).toEqual(parcel);
    expect(decodeParcel({})).toBeNull();
    const slot: Slot = { unit: 'LSN-0001', compartment: 7, phone: '13812345678', parcels: ['a'], codeHash: 'h', intent: null, intentAt: null, v: 2 };
    expect(decodeSlot({ j: JSON.stringify(slot), v: '2' })).toEqual(slot);
    expect(decodeSlot({})).toBeNull();
  });

  it('a slot reads back as written: shared parcels, intent, and intentRef null apart from absent', () => {
    const base: Slot = { unit: 'LSN-0001', compartment: 7, phone: '13812345678', parcels: ['P1', 'P2'], codeHash: 'a'.repeat(64), intent: null, intentAt: null, v: 1 };
    expect(decodeSlot(asHash(slotFields(base, 2)))).toEqual({ ...base, v: 2 });
    const opening: Slot = { ...base, codeHash: null, intent: 'pickup', intentAt: 1764400000000, intentRef: 'kp:1764400000000-0', intentParcel: null };
    expect(decodeSlot(asHash(slotFields(opening, 5)))).toEqual({ ...opening, v: 5 });
    const cleared: Slot = { ...base, intentRef: null, intentParcel: null };
    const back = decodeSlot(asHash(slotFields(cleared, 3)))!;
    expect(back.intentRef).toBeNull();
    expect(back.intentParcel).toBeNull();
    expect('intentRef' in decodeSlot(asHash(slotFields(base, 3)))!).toBe(false);
  });
});
