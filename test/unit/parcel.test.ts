import { describe, expect, it } from 'vitest';
import { candidates, distanceM, nearestUnits } from '../../src/domain/allocation.js';
import type { CompartmentState } from '../../src/domain/model.js';
import { canStart, extendDeadline, onDeadline, onDepositAbandoned, onDoor, type Parcel, type Slot } from '../../src/domain/parcel.js';
import { UNITS } from '../../devices/units.js';
import { presenceCode, presenceCodeValid } from '../../src/domain/presence.js';
import { codeHash, maskCode, randomCode } from '../../src/domain/codes.js';

const H = 3600_000;
const policy = { holdMs: 72 * H };

function parcel(id: string, state: Parcel['state'], extra: Partial<Parcel> = {}): Parcel {
  return {
    id,
    state,
    unit: 'U',
    compartment: 3,
    size: 'S',
    phone: '13800138000',
    name: null,
    room: null,
    lang: 'zh',
    trackingNumber: `T${id}`,
    carrier: 'SF',
    courierId: 'c1',
    createdAt: 0,
    storedAt: null,
    deadline: null,
    endedAt: null,
    extended: false,
    reason: null,
    v: 0,
    ...extra,
  };
}
const slot = (parcels: string[], intent: Slot['intent'], codeHash: string | null = null): Slot => ({
  unit: 'U',
  compartment: 3,
  phone: '13800138000',
  parcels,
  codeHash,
  intent,
  intentAt: intent ? 1 : null,
  v: 0,
});

describe('parcel lifecycle', () => {
  it('deposit: reserved -> depositing -> stored with a code, deadline and a stored notice', () => {
    const s = slot(['a'], 'deposit');
    const opened = onDoor(s, [parcel('a', 'reserved')], { kind: 'opened', at: 10 }, policy, 'h1');
    expect(opened.parcels[0]!.state).toBe('depositing');
    const closed = onDoor(s, opened.parcels, { kind: 'closed', occupied: true, at: 20 }, policy, 'h1');
    expect(closed.parcels[0]).toMatchObject({ state: 'stored', storedAt: 20, deadline: 20 + 72 * H });
    expect(closed.codeIn).toBe('h1');
    expect(closed.slot).toMatchObject({ codeHash: 'h1', intent: null });
    expect(closed.notices).toEqual([{ kind: 'stored', parcelId: 'a' }]);
  });

  it('deposit closed empty: cancelled and the compartment freed', () => {
    const plan = onDoor(slot(['a'], 'deposit'), [parcel('a', 'depositing')], { kind: 'closed', occupied: false, at: 5 }, policy, 'h');
    expect(plan.parcels[0]!.state).toBe('cancelled');
    expect(plan.slot).toBeNull();
    expect(plan.codeIn).toBeNull();
  });

  it('a second parcel in a shared compartment re-issues one code for both', () => {
    const s = slot(['a', 'b'], 'deposit', 'old');
    const plan = onDoor(s, [parcel('a', 'stored', { deadline: 100 }), parcel('b', 'depositing')], { kind: 'closed', occupied: true, at: 50 }, policy, 'new');
    expect(plan.codeOut).toBe('old');
    expect(plan.codeIn).toBe('new');
    expect(plan.notices.map((n) => n.parcelId).sort()).toEqual(['a', 'b']);
  });

  it('pickup: collecting -> collected on closed empty; back to stored when closed occupied', () => {
    const s = slot(['a'], 'pickup', 'h');
    const opened = onDoor(s, [parcel('a', 'stored', { deadline: 1000 })], { kind: 'opened', at: 10 }, policy, 'x');
    expect(opened.parcels[0]!.state).toBe('collecting');
    const empty = onDoor(s, opened.parcels, { kind: 'closed', occupied: false, at: 20 }, policy, 'x');
    expect(empty.parcels[0]).toMatchObject({ state: 'collected', endedAt: 20 });
    expect(empty.slot).toBeNull();
    expect(empty.codeOut).toBe('h');
    expect(empty.cancelReminders).toEqual(['a']);
    const full = onDoor(s, opened.parcels, { kind: 'closed', occupied: true, at: 20 }, policy, 'x');
    expect(full.parcels[0]!.state).toBe('stored');
    expect(full.slot).not.toBeNull();
  });

  it('pickup whose opening was never reported (lost frame-485 change report), closed empty: collected', () => {
    // Found by the soak (npm run soak, frame-loss): the code opened the door, the `opened` report was lost, the
    // resident took the parcel and closed the door; the close came in and the parcel stayed `stored` for good,
    // its compartment empty (the board poll agreed with the close), no "collected" text.
    const plan = onDoor(slot(['a'], 'pickup', 'h'), [parcel('a', 'stored', { storedAt: 1, deadline: 72 * H })], { kind: 'closed', occupied: false, at: 30 }, policy, 'h2');
    expect(plan.parcels[0]).toMatchObject({ state: 'collected', endedAt: 30 });
    expect(plan.transitions.map((x) => `${x.from}->${x.to}`)).toEqual(['stored->collecting', 'collecting->collected']);
    expect(plan.notices).toEqual([{ kind: 'collected', parcelId: 'a' }]);
    expect(plan.slot).toBeNull();
    // closed occupied without an opening (a repeated old close report): nothing happened to the parcel
    const still = onDoor(slot(['a'], 'pickup', 'h'), [parcel('a', 'stored')], { kind: 'closed', occupied: true, at: 30 }, policy, 'h2');
    expect(still.parcels[0]!.state).toBe('stored');
    expect(still.transitions).toEqual([]);
  });

  it('a door event older than the parcel\'s storage (an earlier use, replayed late) changes nothing', () => {
    // Found by the soak: the previous parcel's pickup `opened`, replayed minutes late after a restart, made the next
    // parcel `collecting` while its door stayed shut, and its resident's code could no longer open it.
    const stored = parcel('a', 'stored', { storedAt: 600_000, deadline: 72 * H });
    const s = slot(['a'], 'pickup', 'h');
    for (const ev of [{ kind: 'opened' as const, at: 410_000 }, { kind: 'closed' as const, occupied: false, at: 410_000 }]) {
      const plan = onDoor(s, [stored], ev, policy, 'h2');
      expect(plan.parcels).toEqual([stored]);
      expect(plan.slot).toEqual(s); // the pickup under way keeps its intent
      expect(plan.transitions).toEqual([]);
      expect(plan.notices).toEqual([]);
    }
    // nor does a late empty close make a parcel missing
    expect(onDoor(slot(['a'], null, 'h'), [stored], { kind: 'closed', occupied: false, at: 410_000 }, policy, 'h2').transitions).toEqual([]);
    // the same second as the storage still counts (json-v1 stamps whole seconds)
    expect(onDoor(s, [stored], { kind: 'opened', at: 600_000 }, policy, 'h2').parcels[0]!.state).toBe('collecting');
  });

  it('closed empty with no pickup under way: missing, staff alerted', () => {
    const plan = onDoor(slot(['a'], null, 'h'), [parcel('a', 'stored')], { kind: 'closed', occupied: false, at: 9 }, policy, 'x');
    expect(plan.parcels[0]!.state).toBe('missing');
    expect(plan.notices).toEqual([{ kind: 'missing', parcelId: 'a' }]);
  });

  it('door events without an intent change nothing while the parcel stays inside', () => {
    const plan = onDoor(slot(['a'], null, 'h'), [parcel('a', 'stored')], { kind: 'opened', at: 9 }, policy, 'x');
    expect(plan.transitions).toEqual([]);
  });

  it('deadline: stored -> expired once due; courier return -> returned', () => {
    const s = slot(['a'], null, 'h');
    expect(onDeadline(s, [parcel('a', 'stored', { deadline: 100 })], 'a', 99).transitions).toEqual([]);
    const due = onDeadline(s, [parcel('a', 'stored', { deadline: 100 })], 'a', 100);
    expect(due.parcels[0]!.state).toBe('expired');
    expect(due.notices).toEqual([{ kind: 'overdue', parcelId: 'a' }]);
    const r = slot(['a'], 'return', 'h');
    expect(canStart(s, due.parcels, 'return', { courierId: 'c1', parcelId: 'a' })).toBe(true);
    expect(canStart(s, due.parcels, 'return', { courierId: 'c2', parcelId: 'a' })).toBe(false);
    const opened = onDoor(r, due.parcels, { kind: 'opened', at: 200 }, policy, 'x');
    const done = onDoor(r, opened.parcels, { kind: 'closed', occupied: false, at: 210 }, policy, 'x');
    expect(done.parcels[0]!.state).toBe('returned');
    expect(done.slot).toBeNull();
  });

  it('a return takes back only the courier\'s own parcel from a shared compartment', () => {
    const mine = parcel('a', 'expired', { deadline: 1 });
    const theirs = parcel('c', 'expired', { deadline: 1, courierId: 'c2' });
    const s: Slot = { ...slot(['a', 'c'], 'return', 'h'), intentParcel: 'a' };
    const opened = onDoor(s, [mine, theirs], { kind: 'opened', at: 5 }, policy, 'x');
    expect(opened.parcels.map((p) => p.state)).toEqual(['returning', 'expired']);
    // closed with the other parcel still inside: the courier's is returned, the resident's stays
    const closed = onDoor(s, opened.parcels, { kind: 'closed', occupied: true, at: 6 }, policy, 'x');
    expect(closed.parcels.map((p) => p.state)).toEqual(['returned', 'expired']);
    expect(closed.slot?.parcels).toEqual(['c']);
  });

  it('abandoned deposit: cancelled only while still reserved', () => {
    const s = slot(['a'], 'deposit');
    expect(onDepositAbandoned(s, [parcel('a', 'reserved')], 'a', 5, 'no-door-open').parcels[0]!.state).toBe('cancelled');
    expect(onDepositAbandoned(s, [parcel('a', 'depositing')], 'a', 5, 'no-door-open').transitions).toEqual([]);
  });

  it('extend once by 48 h; an expired parcel waits again', () => {
    const r = extendDeadline(parcel('a', 'stored', { deadline: 1000 }), 10, 48 * H);
    expect(r).toMatchObject({ parcel: { deadline: 1000 + 48 * H, extended: true } });
    expect(extendDeadline(parcel('a', 'stored', { deadline: 1000, extended: true }), 10, 48 * H)).toBe('already-extended');
    expect(extendDeadline(parcel('a', 'collected'), 10, 48 * H)).toBe('not-waiting');
    const e = extendDeadline(parcel('a', 'expired', { deadline: 1000 }), 5000, 48 * H);
    expect(e).toMatchObject({ parcel: { state: 'stored', deadline: 5000 + 48 * H } });
  });

  it('a compartment in use cannot be opened for something else', () => {
    expect(canStart(slot(['a'], 'pickup'), [parcel('a', 'collecting')], 'pickup')).toBe(false);
    expect(canStart(slot(['a'], null), [parcel('a', 'stored')], 'pickup')).toBe(true);
  });
});

describe('allocation', () => {
  const comps = (spec: [number, CompartmentState['size'], Partial<CompartmentState>?][]): CompartmentState[] =>
    spec.map(([no, size, extra]) => ({ no, size, doorOpen: false, occupied: false, fault: null, outOfService: false, updatedAt: null, ...extra }));

  it('smallest size that fits, skipping busy, faulty and allocated compartments', () => {
    const c = comps([[1, 'S', { occupied: true }], [2, 'S', { fault: 'jammed' }], [3, 'S'], [4, 'M'], [5, 'L'], [6, 'S', { doorOpen: true }], [7, 'S']]);
    expect(candidates(c, new Set([7]), 'S', { preferLow: false, low: [] })).toEqual([3, 4, 5]);
    expect(candidates(c, new Set(), 'M', { preferLow: false, low: [] })).toEqual([4, 5]);
    expect(candidates(c, new Set(), 'XL', { preferLow: false, low: [] })).toEqual([]);
  });

  it('low compartments first for residents who asked, within the same size', () => {
    const c = comps([[1, 'S'], [2, 'S'], [3, 'S'], [4, 'M']]);
    expect(candidates(c, new Set(), 'S', { preferLow: true, low: [3, 4] })).toEqual([3, 1, 2, 4]);
  });

  it('nearest units by distance', () => {
    const [north, south, qilin] = UNITS;
    const near = nearestUnits(north!, UNITS).map((n) => n.unit.id);
    expect(near).toEqual([south!.id, qilin!.id]);
    expect(distanceM(north!.location, south!.location)).toBeGreaterThan(100);
  });
});

describe('codes', () => {
  it('random 6-digit codes, masked in logs, hashed per unit with a key', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const c = randomCode();
      expect(c).toMatch(/^\d{6}$/);
      seen.add(c);
    }
    expect(seen.size).toBeGreaterThan(490);
    expect(maskCode('482913')).toBe('48****');
    const key = Buffer.alloc(32, 1);
    expect(codeHash(key, 'A', '482913')).not.toBe(codeHash(key, 'B', '482913'));
    expect(codeHash(key, 'A', '482913')).not.toBe(codeHash(Buffer.alloc(32, 2), 'A', '482913'));
  });

  it('presence codes change every minute; the previous minute is still accepted', () => {
    const key = Buffer.alloc(32, 7);
    const t = 1_800_000_000_000;
    const now = presenceCode(key, 'U', t);
    expect(now).toMatch(/^\d{4}$/);
    expect(presenceCodeValid(key, 'U', now, t)).toBe(true);
    expect(presenceCodeValid(key, 'U', now, t + 60_000)).toBe(true);
    const twoLater = presenceCode(key, 'U', t + 120_000);
    if (twoLater !== now) expect(presenceCodeValid(key, 'U', now, t + 120_000)).toBe(false);
    expect(presenceCode(key, 'V', t)).not.toBe(undefined);
  });
});
