import type { Clock } from '../domain/clock.js';
import type { DeliveryRecorder } from '../notify/notifier.js';
import { maskPhone } from '../notify/phone.js';
import { systemActor } from './entry.js';
import { OFFICE_CHAIN, unitChain, type EvidenceLog } from './log.js';

/** Each notice's delivery outcome goes into the evidence of the unit (and parcel) it concerns. */
export function deliveryRecorder(log: EvidenceLog, clock: Clock): DeliveryRecorder {
  return {
    async record(job, channel, result, detail) {
      const n = job.notice;
      const unit = typeof n.params.unit === 'string' ? n.params.unit : null;
      const to = job.route === 'sms' ? maskPhone(n.to.sms) : String(n.to.webhook ?? '');
      await log.append(unit ? unitChain(unit) : OFFICE_CHAIN, [
        {
          at: clock.now(),
          kind: 'notice',
          actor: systemActor('notifier'),
          ...(unit ? { unit } : {}),
          ...(n.parcelId ? { parcel: n.parcelId } : {}),
          notice: n.id,
          noticeKind: n.kind,
          route: job.route,
          channel,
          to,
          result,
          ...(detail ? { detail: detail.slice(0, 200) } : {}),
        },
      ]);
    },
  };
}
