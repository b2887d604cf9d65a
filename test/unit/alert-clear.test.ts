import { describe, expect, it } from 'vitest';
import { alertEnded, clearsFromEntry } from '../../src/alerts/rules.js';
import type { UnitState } from '../../src/domain/model.js';
import type { EvidenceEntry } from '../../src/evidence/entry.js';

const U = 'LSN-0001';
const e = (x: Partial<EvidenceEntry> & { kind: string }): EvidenceEntry => ({ at: 1, actor: { type: 'system', id: 't' }, unit: U, ...x }) as EvidenceEntry;

describe('which entries end which alerts (pure)', () => {
  it('names the subjects each ending entry clears, and nothing for the rest', () => {
    expect(clearsFromEntry(e({ kind: 'presence', online: true }))).toEqual({ subjects: [`unit-offline:${U}`], reason: 'unit-online' });
    expect(clearsFromEntry(e({ kind: 'presence', online: false }))).toBeNull();
    expect(clearsFromEntry(e({ kind: 'door-closed', compartment: 7 }))?.subjects).toEqual([`door-left-open:${U}:7`]);
    expect(clearsFromEntry(e({ kind: 'door-opened', compartment: 7 }))?.subjects).toEqual([`door-jammed:${U}:7`]);
    expect(clearsFromEntry(e({ kind: 'keypad', state: 'enabled' }))?.subjects).toEqual([`keypad-locked:${U}`]);
    expect(clearsFromEntry(e({ kind: 'keypad', state: 'locked' }))).toBeNull();
    expect(clearsFromEntry(e({ kind: 'parcel', parcel: 'p_1', from: 'missing', to: 'collected' }))).toEqual({ subjects: ['parcel-missing:p_1'], reason: 'parcel-collected' });
    expect(clearsFromEntry(e({ kind: 'parcel', parcel: 'p_1', from: 'stored', to: 'missing' }))).toBeNull();
    expect(clearsFromEntry(e({ kind: 'claim', claim: 'c_1', to: 'resolved' }))).toEqual({ subjects: [], prefix: 'claim-clock:c_1:', reason: 'claim-resolved' });
    expect(clearsFromEntry(e({ kind: 'claim', claim: 'c_1', to: 'investigating' }))).toBeNull();
    expect(clearsFromEntry(e({ kind: 'lockdown-lifted', scope: 'fleet', unit: undefined }))?.subjects).toEqual(['lockdown:fleet']);
    expect(clearsFromEntry(e({ kind: 'lockdown-lifted', scope: 'unit' }))?.subjects).toEqual([`lockdown:${U}`]);
    // events, not conditions: only staff close them
    for (const kind of ['alarm', 'dead-letter', 'alert', 'alert-ack', 'alert-clear', 'fault']) expect(clearsFromEntry(e({ kind, alarm: 'door_forced', compartment: 7 }))).toBeNull();
  });

  it('reads from the live state whether a condition still holds', () => {
    const unit = (x: Partial<UnitState>, c: Partial<UnitState['compartments'][number]> = {}): UnitState[] => [
      { id: U, online: true, keypad: 'enabled', compartments: [{ no: 7, size: 'S', doorOpen: false, occupied: false, fault: null, outOfService: false, updatedAt: 10, ...c }], ...x } as UnitState,
    ];
    expect(alertEnded({ kind: 'unit-offline', unit: U, at: 5 }, unit({ online: false }))).toBeNull();
    expect(alertEnded({ kind: 'unit-offline', unit: U, at: 5 }, unit({}))).toBe('unit-online');
    expect(alertEnded({ kind: 'keypad-locked', unit: U, at: 5 }, unit({ keypad: 'locked' }))).toBeNull();
    expect(alertEnded({ kind: 'keypad-locked', unit: U, at: 5 }, unit({}))).toBe('keypad-unlocked');
    expect(alertEnded({ kind: 'door-left-open', unit: U, compartment: 7, at: 5 }, unit({}, { doorOpen: true }))).toBeNull();
    expect(alertEnded({ kind: 'door-left-open', unit: U, compartment: 7, at: 5 }, unit({}))).toBe('door-closed');
    expect(alertEnded({ kind: 'door-jammed', unit: U, compartment: 7, at: 5 }, unit({}, { fault: 'jammed' }))).toBeNull();
    expect(alertEnded({ kind: 'door-jammed', unit: U, compartment: 7, at: 10 }, unit({}))).toBeNull();
    expect(alertEnded({ kind: 'door-jammed', unit: U, compartment: 7, at: 5 }, unit({}))).toBe('door-working');
    for (const kind of ['door-forced', 'tamper', 'power', 'dead-letter', 'parcel-missing', 'claim-clock', 'lockdown'] as const) {
      expect(alertEnded({ kind, unit: U, compartment: 7, at: 5 }, unit({}))).toBeNull();
    }
  });
});
