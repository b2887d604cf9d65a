import type { StaffActionRecorder } from '../http/staff-actions.js';
import { OFFICE_CHAIN, unitChain, type EvidenceLog } from './log.js';

/**
 * Staff actions into the evidence log: on the chain of the unit they concern (so a parcel's timeline shows who opened
 * its door and why), else on the office chain, with the member as the actor and the request id to find it again.
 */
export function evidenceStaffActions(log: EvidenceLog): StaffActionRecorder {
  return async (a) => {
    const unit = typeof a.details.unit === 'string' ? a.details.unit : null;
    const parcel = typeof a.details.parcel === 'string' ? a.details.parcel : null;
    const compartment = typeof a.details.compartment === 'number' ? a.details.compartment : null;
    await log.append(unit ? unitChain(unit) : OFFICE_CHAIN, [
      {
        at: a.at,
        kind: 'staff',
        actor: a.actor,
        ...(unit ? { unit } : {}),
        ...(compartment !== null ? { compartment } : {}),
        // a parcel's index lists entries of its unit's chain only
        ...(parcel && unit ? { parcel } : {}),
        action: a.action,
        details: a.details,
        requestId: a.requestId,
      },
    ]);
  };
}
