import type { CommandBus } from '../bus/commands.js';
import type { Clock } from '../domain/clock.js';
import type { UnitProfile } from '../domain/model.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { ParcelStore } from '../store/parcels.js';
import type { UnitStore } from '../store/units.js';
import type { Couriers, Residents } from './accounts.js';
import { ParcelError } from './errors.js';
import type { NoticePolicy } from './notices.js';

export interface ParcelPolicy extends NoticePolicy {
  holdMs: number;
  extendMs: number;
  depositOpenTimeoutMs: number;
  /** keypad events older than this (e.g. replayed after a reconnect) open nothing */
  codeMaxAgeMs: number;
  intentTimeoutMs: number;
  /**
   * An open under way for longer than this, whose door has not opened, yields to a new code typed for the same
   * compartment (the gateway that sent it died with it; several gateways). Default: intentTimeoutMs.
   */
  staleOpenMs?: number;
  lockout: { max: number; windowMs: number; lockMs: number };
  /** show the unit's presence code on its screen (also right after a deposit's door closes) */
  presenceCodes?: boolean;
}

/** What every parcel flow works with: the stores, the command bus, the accounts, the policy and the one clock. */
export interface ParcelDeps {
  parcels: ParcelStore;
  unitStore: UnitStore;
  commands: CommandBus;
  couriers: Couriers;
  residents: Residents;
  codeKey: Buffer;
  policy: ParcelPolicy;
  logger: Logger;
  counters: Counters;
  units: readonly UnitProfile[];
  clock: Clock;
}

export function unitProfile(units: readonly UnitProfile[], id: string): UnitProfile {
  const u = units.find((x) => x.id === id);
  if (!u) throw new ParcelError('not_found', `no unit ${id}`);
  return u;
}

export const MAX_RETRIES = 8;
