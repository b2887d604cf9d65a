/**
 * What the soak's people did and saw, kept to check the gateway against afterwards: every compartment use
 * (tenancy) with its times, which parcel is physically where, and assignments seen while the run went on.
 */
export interface Tenancy {
  parcelId: string;
  unit: string;
  no: number;
  /** the deposit request went out (the door may open before its answer comes back) */
  requestedAt: number;
  /** when the gateway reserved the compartment for it (the answer's createdAt): its door cannot open before */
  reservedAt?: number;
  /** the courier put the parcel in and closed the door */
  closedAt?: number;
  codeTypedAt: number[];
  /** the resident took the parcel out and closed the door */
  takenAt?: number;
  /** an old code typed again after the parcel was collected */
  replayAt?: number;
  /** the next tenancy of this compartment began (or the end of the run) */
  endedAt?: number;
  /** when the compartment's previous use ended (taken out, put in, or requested), as the ledger knew at begin */
  notBefore?: number;
}

export type Outcome = 'collected' | 'deposit-gave-up' | 'not-stored' | 'no-code' | 'not-opened' | 'not-collected' | 'running';

export interface Life {
  i: number;
  unit: string;
  phone: string;
  tracking: string;
  tenancies: Tenancy[];
  outcome: Outcome;
  /** the parcel the courier finally put in, if any */
  parcelId: string | null;
  /** where it physically is now */
  physical: 'none' | 'in' | 'out';
  depositAttempts: number;
  openFailed: number;
  codeTypes: number;
  /** the last refusal or failure the deposit API answered with */
  lastError?: string;
  startedAt: number;
  endedAt?: number;
}

export interface DoubleAssignment {
  unit: string;
  no: number;
  holder: string;
  holderState: string | null;
  newcomer: string;
  at: number;
}

export class Ledger {
  readonly lives: Life[] = [];
  /** unit:no -> the tenancy currently holding it, as the people see it */
  readonly holders = new Map<string, { life: Life; t: Tenancy }>();
  readonly doubles: DoubleAssignment[] = [];
  readonly tenancies: Tenancy[] = [];
  /** unit:no -> its newest tenancy (held or not) */
  private readonly last = new Map<string, Tenancy>();
  straysClosed = 0;

  begin(life: Life, t: Tenancy): { life: Life; t: Tenancy } | undefined {
    const key = `${t.unit}:${t.no}`;
    const before = this.holders.get(key);
    const prev = this.last.get(key);
    if (prev && prev !== t) {
      prev.endedAt ??= t.requestedAt;
      t.notBefore ??= prev.takenAt ?? prev.closedAt ?? prev.requestedAt;
    }
    this.last.set(key, t);
    this.holders.set(key, { life, t });
    if (!life.tenancies.includes(t)) {
      life.tenancies.push(t);
      this.tenancies.push(t);
    }
    return before && before.t.parcelId !== t.parcelId ? before : undefined;
  }

  release(t: Tenancy): void {
    const key = `${t.unit}:${t.no}`;
    if (this.holders.get(key)?.t === t) this.holders.delete(key);
  }
}
