import type { Clock } from '../domain/clock.js';
import type { DeliveryRecorder } from '../notify/notifier.js';
import type { ChannelName, NoticeJob } from '../notify/types.js';
import { maskPhone } from '../notify/phone.js';
import { systemActor, type EvidenceEntry } from './entry.js';
import { OFFICE_CHAIN, unitChain, type EvidenceLog } from './log.js';

/** Each notice's delivery outcome goes into the evidence of the unit (and parcel) it concerns. */
export function deliveryRecorder(log: EvidenceLog, clock: Clock): DeliveryRecorder {
  const where = (job: NoticeJob, channel: ChannelName, result: 'sent' | 'failed', detail?: string): [string, EvidenceEntry] => {
    const n = job.notice;
    const unit = typeof n.params.unit === 'string' ? n.params.unit : null;
    const to = job.route === 'sms' ? maskPhone(n.to.sms) : String(n.to.webhook ?? '');
    // a claim's notices (office chain): their delivery joins the claim's evidence
    const claim = !unit && typeof n.params.claim === 'string' ? n.params.claim : null;
    return [
      unit ? unitChain(unit) : OFFICE_CHAIN,
      {
        at: clock.now(),
        kind: 'notice',
        actor: systemActor('notifier'),
        ...(unit ? { unit } : {}),
        ...(n.parcelId ? { parcel: n.parcelId } : {}),
        ...(claim ? { claim } : {}),
        notice: n.id,
        noticeKind: n.kind,
        route: job.route,
        channel,
        to,
        result,
        ...(detail ? { detail: detail.slice(0, 200) } : {}),
      },
    ];
  };
  return {
    async record(job, channel, result, detail) {
      const [chain, entry] = where(job, channel, result, detail);
      await log.append(chain, [entry]);
    },
    async recordSent(job, channel, sent) {
      const [chain, entry] = where(job, channel, 'sent');
      return log.appendUnless(sent, chain, [entry]);
    },
  };
}
