import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { describeRecipient, jobIdFor } from './jobs.js';
import { CHANNELS, ROUTES, noticeJobSchema, type ChannelName, type FailedNotice, type NoticeJob, type Route } from './types.js';

/** Jobs in the notification queues that have not run (or not run to the end) yet: what Notifier asks of them. */

const PENDING_STATES = new Set(['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children']);
/** The queues a route's job can be in, whatever the configuration was when it was queued (see Notifier.channelFor). */
const ROUTE_CHANNELS: Record<Route, readonly ChannelName[]> = { sms: ['sms', 'console'], webhook: ['webhook', 'console'] };

/**
 * Remove the still-pending jobs (waiting, delayed — including a retry waiting for its backoff) of these notices, and
 * their entries in the later-store (`later`: its keys, see later.ts). A job being sent right now cannot be stopped
 * (BullMQ refuses to remove a locked job); a sent one is left alone as the record that it was sent.
 */
export async function cancelPending(
  redis: Redis,
  queues: Record<ChannelName, Queue>,
  noticeIds: readonly string[],
  logger: Logger,
  later: { due: string; jobs: string },
): Promise<void> {
  // Which of the candidate jobs (each route's id in each queue) exist at all, and which of those are delayed, in one
  // round trip: most do not exist (a reminder is an SMS only, and in one queue), and a job that does not exist is
  // in no pending state. A delayed job (a reminder before its time: what a cancel is nearly always for) is pending
  // without asking BullMQ for its state; any other existing one is asked. The same pipeline removes the notices'
  // entries from the later-store (a reminder before its time is there, not in BullMQ: then the lookups find nothing
  // and this one round trip is the whole cancel); a job the pump has moved already is found in its queue.
  const candidates: { jobId: string; channel: ChannelName }[] = [];
  const jobIds: string[] = [];
  for (const noticeId of noticeIds) {
    for (const route of ROUTES) {
      const jobId = jobIdFor(noticeId, route);
      jobIds.push(jobId);
      for (const channel of ROUTE_CHANNELS[route]) candidates.push({ jobId, channel });
    }
  }
  if (!candidates.length) return;
  const pipe = redis.pipeline();
  for (const c of candidates) {
    const queue = queues[c.channel];
    pipe.exists(queue.toKey(c.jobId));
    pipe.zscore(queue.toKey('delayed'), c.jobId);
  }
  pipe.zrem(later.due, ...jobIds);
  pipe.hdel(later.jobs, ...jobIds);
  const replies = ((await pipe.exec()) ?? []).map(([err, r]) => {
    if (err) throw err;
    return r;
  });
  if (replies.at(-2)) logger.debug('notices withdrawn from the later-store', { count: replies.at(-2) });
  // Each job on its own (the jobs are independent of each other): side by side, not one after another.
  await Promise.all(
    candidates.map(async ({ jobId, channel }, i) => {
      if (replies[2 * i] !== 1) return;
      const queue = queues[channel];
      const state = replies[2 * i + 1] !== null ? 'delayed' : await queue.getJobState(jobId);
      if (!PENDING_STATES.has(state)) return;
      const removed = await queue.remove(jobId);
      if (removed === 1) logger.debug('notice cancelled', { jobId, channel, state });
      else logger.info('notice not cancelled: it is being sent', { jobId, channel });
    }),
  );
}

/**
 * Remove a job the pump has just added for an entry that was withdrawn meanwhile, if it is still pending and is that
 * job (a job with the same id and other data was queued by someone else: left alone). Returns whether it was removed.
 */
export async function removeIfPending(queue: Queue, jobId: string, data: NoticeJob): Promise<boolean> {
  const job = await queue.getJob(jobId);
  if (!job || JSON.stringify(job.data) !== JSON.stringify(data)) return false;
  if (!PENDING_STATES.has(await job.getState())) return false;
  return (await queue.remove(jobId)) === 1;
}

/** Permanently failed deliveries of every channel, newest first. */
export async function failedNotices(queues: Record<ChannelName, Queue>, limit: number): Promise<FailedNotice[]> {
  const lists = await Promise.all(CHANNELS.map((c) => queues[c].getFailed(0, limit - 1)));
  const out: FailedNotice[] = [];
  CHANNELS.forEach((channel, i) => {
    for (const job of lists[i] ?? []) {
      if (!job?.id) continue;
      const parsed = noticeJobSchema.safeParse(job.data);
      const data = parsed.success ? parsed.data : undefined;
      out.push({
        jobId: job.id,
        channel,
        noticeId: data?.notice.id ?? job.id,
        kind: data?.notice.kind ?? job.name,
        to: data ? describeRecipient(data) : '',
        reason: job.failedReason ?? '',
        attempts: job.attemptsMade,
        failedAt: job.finishedOn ?? job.processedOn ?? job.timestamp,
      });
    }
  });
  return out.sort((a, b) => b.failedAt - a.failedAt).slice(0, limit);
}
