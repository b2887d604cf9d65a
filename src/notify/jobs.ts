import type { Queue } from 'bullmq';
import { maskPhone } from './phone.js';
import type { ChannelName, NoticeJob, Route } from './types.js';

/** Names, ids and limits of the notification jobs: what the notifier, the outbox relay and the checks share. */

export const QUEUE_NAMES: Record<ChannelName, string> = {
  sms: 'notify-sms',
  webhook: 'notify-webhook',
  console: 'notify-console',
};

/** Completed jobs (with the pickup code scrubbed) are kept a week for Bull Board and support questions. */
export const KEEP_COMPLETED_S = 7 * 24 * 3600;
/** The sent marker must outlive the completed job it backs up. */
export const SENT_TTL_S = 14 * 24 * 3600;
/** Failed jobs are kept (failures(), staff can retry them from Bull Board), bounded so Redis cannot fill up. */
export const KEEP_FAILED_COUNT = 10_000;

/**
 * How often a job may be found stalled (its worker gone: a process killed or restarted, a Redis outage that let its
 * lock lapse) and still run again. BullMQ's default, 1, is for jobs that may crash their worker; a notice's cannot,
 * and with 1 a text whose worker died twice (two restarts, or an outage and a restart, while it was being sent)
 * failed for good (the soak saw 14 jobs end so; they had been delivered, one not yet delivered would have been
 * lost). Its sent key keeps a run again from sending twice.
 */
export const MAX_STALLS = 20;

/** The back-off type of notice jobs: exponential from `backoffMs`, each wait at most `backoffMaxMs` (capped()). */
export const BACKOFF_TYPE = 'capped-exponential';

/** The wait before attempt `attemptsMade + 1`: backoffMs, twice that, … up to backoffMaxMs. */
export function capped(attemptsMade: number, backoffMs: number, backoffMaxMs: number): number {
  return Math.min(backoffMaxMs, Math.round(backoffMs * 2 ** Math.max(0, attemptsMade - 1)));
}

/** `<noticeId>.<route>`. The notice id is URI-encoded: BullMQ refuses custom ids containing ':'. */
export function jobIdFor(noticeId: string, route: Route): string {
  return `${encodeURIComponent(noticeId)}.${route}`;
}

/** BullMQ rate limiter from a rate: 10/s → 10 per 1000 ms; 0.5/s → 1 per 2000 ms. */
export function limiterFor(ratePerSecond: number): { max: number; duration: number } {
  const max = Math.max(1, Math.floor(ratePerSecond));
  return { max, duration: Math.round((max * 1000) / ratePerSecond) };
}

/** Who a delivery went to, safe to show: masked phone, 'property' or 'courier:<id>'. */
export function describeRecipient(job: NoticeJob): string {
  const to = job.notice.to;
  if (job.route === 'sms') return maskPhone(to.sms);
  if (to.webhook === 'property') return 'property';
  return to.webhook ? `courier:${to.webhook.courierId}` : '';
}

/** One job to add: what Queue.add / Queue.addBulk take. */
export interface QueuedJob {
  name: string;
  data: NoticeJob;
  opts: { jobId: string; delay: number };
}

/** Jobs into their queues (each job's data names its channel): one round trip per queue. */
export async function addJobs(queues: Record<ChannelName, Queue>, jobs: readonly QueuedJob[]): Promise<void> {
  const byChannel = new Map<ChannelName, QueuedJob[]>();
  for (const j of jobs) {
    const list = byChannel.get(j.data.channel) ?? [];
    list.push(j);
    byChannel.set(j.data.channel, list);
  }
  // A channel's one job (the usual batch when notices trickle in) with add: the same script and one round trip as
  // addBulk, without the MULTI pipeline, whose set-up copies every script of BullMQ's connection (~0.1 ms each).
  await Promise.all(
    [...byChannel].map(([channel, list]) => {
      const q = queues[channel];
      const [one] = list;
      return list.length === 1 && one ? q.add(one.name, one.data, one.opts) : q.addBulk(list);
    }),
  );
}
