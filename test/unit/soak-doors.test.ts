import { describe, expect, it } from 'vitest';
import { attributeOpenings } from '../../scripts/soak/doors.js';
import type { Tenancy } from '../../scripts/soak/ledger.js';
import type { Opening } from '../../scripts/soak/sims.js';

const U = 'LSN-0001';
const use = (parcelId: string, t: Partial<Tenancy> & { requestedAt: number }): Tenancy => ({ parcelId, unit: U, no: 1, codeTypedAt: [], ...t });
const at = (...ts: number[]): Opening[] => ts.map((x) => ({ unit: U, no: 1, at: x }));

describe('soak door attribution (scripts/soak/doors.ts)', () => {
  it('a deposit whose first request went unanswered does not take in the openings of the uses in between', () => {
    // B asked first (t=1000) and got no answer; A used the compartment meanwhile (opened 1110 to deposit, 1510 to
    // collect); B's retry got the compartment after A was taken out, its door opened at 2100.
    const a = use('A', { requestedAt: 1100, closedAt: 1200, takenAt: 1600 });
    const b = use('B', { requestedAt: 1000, closedAt: 2200, takenAt: 2600 });
    const f = attributeOpenings([a, b], at(1110, 1510, 2100, 2510));
    expect(f).toEqual({ deposit: [], pickup: [], afterCollection: [], unexplained: [] });
  });

  it("a deposit's span begins no earlier than the gateway's reservation: the previous resident's pickup opening before it is theirs", () => {
    // A's resident opened (1500) and took the parcel out; the gateway freed the compartment and reserved it for B
    // (1550) before A's close reached the ledger (takenAt 1600); B's own deposit opening is at 1560.
    const a = use('A', { requestedAt: 1000, closedAt: 1200, takenAt: 1600 });
    const b = use('B', { requestedAt: 1400, reservedAt: 1550, closedAt: 1700, takenAt: 2100 });
    const f = attributeOpenings([a, b], at(1010, 1500, 1560, 2000));
    expect(f).toEqual({ deposit: [], pickup: [], afterCollection: [], unexplained: [] });
  });

  it('a real second opening during a deposit is reported', () => {
    const a = use('A', { requestedAt: 1100, closedAt: 1200, takenAt: 1600 });
    const b = use('B', { requestedAt: 1000, closedAt: 2200, takenAt: 2600 });
    const f = attributeOpenings([a, b], at(1110, 1510, 2100, 2150, 2510));
    expect(f.deposit).toHaveLength(1);
    expect(f.deposit[0]).toMatch(/^LSN-0001:1 B: 2 openings for one deposit \(openings at \+1100, \+1150 ms; .*previous use A /);
    expect(f.pickup).toEqual([]);
    expect(f.afterCollection).toEqual([]);
  });

  it('a code that opens the door twice, and an old code that opens it after collection, are reported', () => {
    const a = use('A', { requestedAt: 1000, closedAt: 1200, takenAt: 1600, replayAt: 1700 });
    const f = attributeOpenings([a], at(1010, 1500, 1550, 1710));
    expect(f.pickup).toEqual([`${U}:1 A: 2 openings for one code`]);
    expect(f.afterCollection).toEqual([`${U}:1 A: opened 1× after collection (old code typed again)`]);
    expect(f.deposit).toEqual([]);
  });

  it('an opening after collection is the old parcel\'s only until the next use begins', () => {
    const a = use('A', { requestedAt: 1000, closedAt: 1200, takenAt: 1600 });
    const b = use('B', { requestedAt: 2000, closedAt: 2200, takenAt: 2600 });
    expect(attributeOpenings([a, b], at(1010, 1500, 1800, 2010, 2500)).afterCollection).toEqual([`${U}:1 A: opened 1× after collection`]);
    expect(attributeOpenings([a, b], at(1010, 1500, 2010, 2500))).toEqual({ deposit: [], pickup: [], afterCollection: [], unexplained: [] });
  });

  it('openings before any use of the compartment are unexplained; other compartments are apart', () => {
    const a = use('A', { requestedAt: 1000, closedAt: 1200 });
    const f = attributeOpenings([a], [...at(500, 1010), { unit: U, no: 2, at: 1010 }]);
    expect(f.unexplained).toEqual([`${U}:1 at ${new Date(500).toISOString()}`, `${U}:2 at ${new Date(1010).toISOString()}`]);
    expect(f.deposit).toEqual([]);
  });
});
