/**
 * The claim service's refusals (besides the state machine's ClaimRuleError). No HTTP here: adapters map the codes.
 */
export type ClaimErrorCode =
  /** no such claim (or not the caller's own), or no such parcel for this resident */
  | 'not_found'
  /** a claim about this parcel is already being handled */
  | 'duplicate'
  /** a resident has as many unresolved claims as allowed */
  | 'too_many_open'
  /** the claim kept changing under us; try again */
  | 'busy';

export class ClaimError extends Error {
  override name = 'ClaimError';
  constructor(
    readonly code: ClaimErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}
