import { describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { audit, cellState, freeBySize, type SlotRecord } from '../../src/alerts/inventory.js';
import { alertFromEntry, alertsFromState } from '../../src/alerts/rules.js';
import { alertSummary } from '../../src/alerts/types.js';
import type { CompartmentState, UnitState } from '../../src/domain/model.js';
import type { Parcel } from '../../src/domain/parcel.js';
import type { EvidenceEntry } from '../../src/evidence/entry.js';
import { maskJobData, maskPhonesInText } from '../../src/http/bullboard.js';
import { topicsOf } from '../../src/store/feed.js';
import { parseSearch } from '../../src/store/search.js';

const NOW = Date.UTC(2026, 10, 29, 2, 0, 0);
const MIN = 60_000;
const policy = { offlineMs: 5 * MIN, doorOpenMs: 5 * MIN };
const unitActor = { type: 'unit' as const, id: 'LSN-0001' };

function unit(over: Partial<UnitState> = {}, comps: Partial<CompartmentState>[] = []): UnitState {
  const p = UNITS[0]!;
  return {
    id: p.id,
    site: p.site,
    siteName: p.siteName,
    dialect: p.dialect,
    online: true,
    since: NOW - 60 * MIN,
    lastSeen: NOW,
    firmware: null,
    keypad: 'enabled',
    outOfService: false,
    compartments: p.compartments.map((c, i) => ({ no: c.no, size: c.size, doorOpen: false, occupied: false, fault: null, outOfService: false, updatedAt: null, ...comps[i] })),
    ...over,
  };
}

function parcel(over: Partial<Parcel>): Parcel {
  return {
    id: 'p_1', state: 'stored', unit: 'LSN-0001', compartment: 1, size: 'S', phone: '13800138000', name: null, room: null, lang: 'zh',
    trackingNumber: 'SF1', carrier: 'SF', courierId: 'c1', createdAt: NOW - 10 * MIN, storedAt: NOW - 9 * MIN, deadline: NOW + 60 * MIN,
    endedAt: null, extended: false, reason: null, v: 1, ...over,
  };
}
const rec = (parcels: Parcel[], intent: SlotRecord['slot']['intent'] = null): SlotRecord => ({
  slot: { unit: 'LSN-0001', compartment: parcels[0]?.compartment ?? 1, phone: '13800138000', parcels: parcels.map((p) => p.id), codeHash: null, intent, intentAt: null, v: 1 },
  parcels,
});

describe('alert rules (pure)', () => {
  const e = (x: Partial<EvidenceEntry> & { kind: string }): EvidenceEntry => ({ at: NOW, actor: unitActor, unit: 'LSN-0001', ...x });

  it('turns the entries that matter into alerts, each occurrence named once', () => {
    expect(alertFromEntry(e({ kind: 'keypad', state: 'locked', until: NOW + 10 * MIN }), 'c/1')).toMatchObject({
      kind: 'keypad-locked', key: `keypad-locked:LSN-0001:${NOW + 10 * MIN}`, subject: 'keypad-locked:LSN-0001',
    });
    // the keypad command's echo of the lock carries no `until`: not a second alert
    expect(alertFromEntry(e({ kind: 'keypad', state: 'locked' }), 'c/2')).toBeNull();
    expect(alertFromEntry(e({ kind: 'fault', compartment: 7, fault: 'jammed' }), 'c/3')).toMatchObject({ kind: 'door-jammed', subject: 'door-jammed:LSN-0001:7' });
    expect(alertFromEntry(e({ kind: 'fault', compartment: 7, fault: 'sensor' }), 'c/3')).toBeNull();
    expect(alertFromEntry(e({ kind: 'command', compartment: 7, op: 'open', result: 'jammed' }), 'c/4')).toMatchObject({ kind: 'door-jammed' });
    expect(alertFromEntry(e({ kind: 'alarm', alarm: 'door_forced', compartment: 3 }), 'c/5')).toMatchObject({ kind: 'door-forced', key: 'door-forced:c/5' });
    expect(alertFromEntry(e({ kind: 'alarm', alarm: 'tamper' }), 'c/6')).toMatchObject({ kind: 'tamper', subject: 'tamper:LSN-0001' });
    expect(alertFromEntry(e({ kind: 'alarm', alarm: 'power' }), 'c/7')).toMatchObject({ kind: 'power' });
    expect(alertFromEntry(e({ kind: 'parcel', parcel: 'p_9', from: 'stored', to: 'missing', reason: 'empty-without-pickup' }), 'c/8')).toMatchObject({
      kind: 'parcel-missing', key: 'parcel-missing:p_9', parcel: 'p_9',
    });
    expect(alertFromEntry(e({ kind: 'parcel', parcel: 'p_9', from: 'stored', to: 'collected' }), 'c/8')).toBeNull();
    expect(alertFromEntry(e({ kind: 'dead-letter', entry: '5-0', what: 'door-closed', attempts: 5 }), 'c/9')).toMatchObject({ kind: 'dead-letter', key: 'dead-letter:LSN-0001:5-0' });
    expect(alertFromEntry(e({ kind: 'lockdown', scope: 'unit', cause: 'burst', reason: 'burst of opens' }), 'c/10')).toMatchObject({
      kind: 'lockdown', key: `lockdown:LSN-0001:${NOW}`, subject: 'lockdown:LSN-0001', notified: true,
    });
    expect(alertFromEntry(e({ kind: 'lockdown', unit: undefined, scope: 'fleet', cause: 'manual' }), 'c/11')).toMatchObject({ subject: 'lockdown:fleet' });
    for (const kind of ['door-opened', 'notice', 'staff', 'alert', 'alert-ack', 'code-checked', 'lockdown-lifted']) expect(alertFromEntry(e({ kind }), 'c/x')).toBeNull();
  });

  it("names a unit's 'left open' alarm and the gateway's own timer as the same occurrence", () => {
    const openedAt = NOW - 6 * MIN;
    const fromAlarm = alertFromEntry(e({ kind: 'alarm', alarm: 'door_left_open', compartment: 4 }), 'c/1', { doorOpenedAt: openedAt });
    const fromState = alertsFromState([unit({}, [{}, {}, {}, { doorOpen: true, updatedAt: openedAt }])], NOW, policy);
    expect(fromState).toHaveLength(1);
    expect(fromAlarm!.key).toBe(fromState[0]!.key);
    expect(fromAlarm!.subject).toBe(fromState[0]!.subject);
  });

  it('alerts a unit offline past the limit and a door open past the limit, not before, and not a unit never seen', () => {
    expect(alertsFromState([unit({ online: false, since: NOW - 4 * MIN })], NOW, policy)).toEqual([]);
    expect(alertsFromState([unit({ online: false, since: NOW - 5 * MIN })], NOW, policy)).toMatchObject([{ kind: 'unit-offline', key: `unit-offline:LSN-0001:${NOW - 5 * MIN}` }]);
    expect(alertsFromState([unit({ online: false, since: null })], NOW, policy)).toEqual([]);
    expect(alertsFromState([unit({}, [{ doorOpen: true, updatedAt: NOW - 4 * MIN }])], NOW, policy)).toEqual([]);
    // an offline unit's doors are as last reported: only the offline alert
    const offline = alertsFromState([unit({ online: false, since: NOW - 6 * MIN }, [{ doorOpen: true, updatedAt: NOW - 60 * MIN }])], NOW, policy);
    expect(offline.map((a) => a.kind)).toEqual(['unit-offline']);
  });

  it('writes a short bilingual summary', () => {
    expect(alertSummary({ kind: 'door-forced', unit: 'LSN-0001', compartment: 3, detail: {} }, 'zh')).toBe('柜门被撬开：LSN-0001 3号格口');
    expect(alertSummary({ kind: 'door-forced', unit: 'LSN-0001', compartment: 3, detail: {} }, 'en')).toBe('Door forced: LSN-0001, box 3');
  });
});

describe('compartment states and the inventory audit (pure)', () => {
  const closed: CompartmentState = { no: 1, size: 'S', doorOpen: false, occupied: false, fault: null, outOfService: false, updatedAt: null };

  it('colours each compartment by its most urgent state', () => {
    expect(cellState(closed, null, NOW)).toBe('free');
    expect(cellState(closed, rec([parcel({ state: 'reserved', storedAt: null, deadline: null })]), NOW)).toBe('reserved');
    expect(cellState({ ...closed, occupied: true }, rec([parcel({})]), NOW)).toBe('occupied');
    expect(cellState({ ...closed, occupied: true }, rec([parcel({ deadline: NOW - 1 })]), NOW)).toBe('overdue');
    expect(cellState({ ...closed, occupied: true }, rec([parcel({ state: 'expired' })]), NOW)).toBe('overdue');
    expect(cellState({ ...closed, doorOpen: true }, rec([parcel({})]), NOW)).toBe('door-open');
    expect(cellState({ ...closed, outOfService: true }, null, NOW)).toBe('out-of-service');
    expect(cellState({ ...closed, fault: 'jammed', doorOpen: true }, null, NOW)).toBe('fault');
  });

  it('counts free compartments by size (none on a unit out of service)', () => {
    const u = unit({}, [{ occupied: true }, { outOfService: true }, { fault: 'sensor' }]);
    const slots = new Map([[4, rec([parcel({ compartment: 4, state: 'reserved' })])]]);
    expect(freeBySize(u, slots)).toEqual({ S: 12, M: 12, L: 6, XL: 2 });
    expect(freeBySize({ ...u, outOfService: true }, slots)).toEqual({ S: 0, M: 0, L: 0, XL: 0 });
  });

  it('lists every compartment where the sensors and the records disagree, with what each says', () => {
    const u = unit({}, [
      { occupied: false }, // 1: parcel recorded, sensor empty
      { occupied: true }, // 2: sensor occupied, nothing recorded
      { doorOpen: true }, // 3: door open, no opening under way
      { doorOpen: true }, // 4: door open for a pickup: fine
      { fault: 'sensor' }, // 5
      { occupied: true }, // 6: reserved, not deposited, yet occupied
      { occupied: true }, // 7: agrees
    ]);
    const slots = new Map<number, SlotRecord>([
      [1, rec([parcel({ id: 'p_a', compartment: 1 })])],
      [4, rec([parcel({ id: 'p_b', compartment: 4 })], 'pickup')],
      [6, rec([parcel({ id: 'p_c', compartment: 6, state: 'reserved' })])],
      [7, rec([parcel({ id: 'p_d', compartment: 7 })])],
    ]);
    const found = audit(u, slots);
    expect(found.map((d) => [d.compartment, d.problem])).toEqual([
      [1, 'recorded-but-empty'],
      [2, 'occupied-but-free'],
      [3, 'door-open-unexpected'],
      [5, 'sensor-fault'],
      [6, 'occupied-before-deposit'],
    ]);
    expect(found[0]!.sensors.en).toBe('door closed, empty');
    expect(found[0]!.records.en).toBe('1 parcel(s): p_a stored');
    expect(found[1]!.records.zh).toBe('空闲，无包裹');
  });
});

describe('the console plumbing (pure)', () => {
  it('gives each change the topics live pages listen to, without its content', () => {
    expect(topicsOf('unit:LSN-0001', { at: 1, kind: 'door-opened', actor: unitActor, unit: 'LSN-0001', compartment: 3 })).toEqual(['unit:LSN-0001', 'units']);
    expect(topicsOf('unit:LSN-0001', { at: 1, kind: 'parcel', actor: unitActor, parcel: 'p_1' }).sort()).toEqual(['parcel:p_1', 'parcels', 'unit:LSN-0001', 'units']);
    expect(topicsOf('office', { at: 1, kind: 'alert', actor: unitActor })).toEqual(['alerts']);
    expect(topicsOf('office', { at: 1, kind: 'lockdown', actor: unitActor })).toEqual(['lockdown', 'alerts']);
    expect(topicsOf('office', { at: 1, kind: 'staff', actor: unitActor, action: 'staff.add' })).toEqual(['staff']);
    expect(topicsOf('office', { at: 1, kind: 'claim', actor: unitActor, claim: 'c_1' }).sort()).toEqual(['claim:c_1', 'claims']);
    // a clock turning near or past its limit redraws the claims pages' countdowns
    expect(topicsOf('office', { at: 1, kind: 'claim-alert', actor: unitActor, claim: 'c_1' }).sort()).toEqual(['claim:c_1', 'claims']);
  });

  it('reads a search as 4 digits of a phone or a tracking number, and refuses anything else', () => {
    expect(parseSearch(' 8000 ')).toEqual({ by: 'phone-tail', last4: '8000' });
    expect(parseSearch('sf1234567890')).toEqual({ by: 'tracking', tn: 'SF1234567890' });
    expect(parseSearch('12')).toBeNull();
    expect(parseSearch('<script>')).toBeNull();
  });

  it("masks phones and codes in Bull Board's answers", () => {
    expect(maskPhonesInText('{"to":"+8613800138000","x":"13912345678","n":"123456789012"}')).toBe('{"to":"+86138****8000","x":"139****5678","n":"123456789012"}');
    expect(maskJobData({ jobId: 'j', notice: { id: 'n', to: { sms: '13800138000', lang: 'zh' }, params: { code: '123456', unit: 'LSN-0001' } } })).toEqual({
      jobId: 'j',
      notice: { id: 'n', to: { sms: '138****8000', lang: 'zh' }, params: { code: '******', unit: 'LSN-0001' } },
    });
    expect(maskJobData('plain')).toBe('plain');
  });
});
