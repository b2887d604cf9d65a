/** Domain errors of the parcel service. They carry no HTTP: the HTTP adapter maps them (see http/routes/parcels.ts). */
export type ParcelErrorCode =
  | 'not_found'
  | 'forbidden'
  | 'consent_refused'
  | 'no_compartment'
  | 'unit_offline'
  | 'open_failed'
  | 'busy'
  | 'wrong_code'
  | 'wrong_presence_code'
  | 'locked_out'
  | 'already_extended'
  | 'not_waiting'
  | 'conflict'
  /** doors stopped by a lockdown (open-guard.ts): only an admin may open, the resident calls the office */
  | 'locked_down'
  /** too many opens in the last minute (open-guard.ts) */
  | 'rate_limited';

export class ParcelError extends Error {
  constructor(
    readonly code: ParcelErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ParcelError';
  }
}
