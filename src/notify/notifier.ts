import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { Channel } from './channels/channel.js';
import { ConsoleChannel, type ConsoleText } from './channels/console.js';
import { SmsChannel } from './channels/sms.js';
import { WebhookChannel } from './channels/webhook.js';
import { InvalidNoticeError, PermanentError } from './errors.js';
import { LaterStore, placeJobs, type NoticeJobs, type Placed } from './later.js';
import type { QueuedJob } from './jobs.js';
import { cancelPending, failedNotices } from './pending.js';
import { LaterPump } from './pump.js';
import { SentMarks, type DeliveryRecorder } from './sent.js';
import { nextAllowed } from './quiet.js';
import { renderText } from './templates.js';
import {
  CHANNELS,
  ROUTES,
  noticeJobSchema,
  noticeSchema,
  notifyConfigSchema,
  type ChannelName,
  type FailedNotice,
  type Notice,
  type ParsedNotice,
  type ParsedNotifyConfig,
  type Route,
} from './types.js';

export type { NotifyConfig } from './types.js';
export type { DeliveryRecorder } from './sent.js';
export { QUEUE_NAMES, KEEP_COMPLETED_S, SENT_TTL_S, KEEP_FAILED_COUNT, jobIdFor, limiterFor, describeRecipient } from './jobs.js';
import { QUEUE_NAMES, KEEP_COMPLETED_S, KEEP_FAILED_COUNT, MAX_STALLS, BACKOFF_TYPE, addJobs, capped, jobIdFor, limiterFor } from './jobs.js';
import type { NotifyConfig } from './types.js';

/**
 * The notification pipeline: one BullMQ queue + worker per channel (sms, webhook, console). Console deliveries due
 * now skip the queue (deliverAtOnce): only their sent key and evidence are written.
 *
 * No duplicates, layer by layer:
 *  1. Job ids are derived from the notice id and the route (`<noticeId>.sms`, `<noticeId>.webhook`). BullMQ
 *     ignores an add whose job id already exists (waiting, delayed, active, completed or failed), so enqueueing
 *     the same notice again — the outbox relay re-processing an entry after a crash — creates nothing.
 *  2. Completed jobs are only kept for KEEP_COMPLETED_S; after that an add with the same id would create a new
 *     job. And a worker can crash (or lose its lock and be declared stalled) after the provider accepted the
 *     message but before BullMQ recorded the job as completed; the stalled checker then moves the job back to
 *     wait and another worker runs it again. So right after the provider says yes we SET NX
 *     `${prefix}:sent:${jobId}` (TTL SENT_TTL_S, longer than completed jobs are kept) and a worker skips any
 *     job whose sent key exists.
 *  3. What remains is the window between "provider accepted" and "sent key written" (a crash or a Redis
 *     outage right there). It cannot be closed from our side; every request therefore carries
 *     `Idempotency-Key: <job id>` (and the SMS body's `id`), the same on every retry, so a provider that
 *     dedupes sends one message.
 */
export type NotifyConnection = RedisOptions | (() => Redis);

export interface NotifierDeps {
  /** ioredis options (BullMQ opens its own connections) or a factory of Redis instances
   *  (`maxRetriesPerRequest: null`, no keyPrefix), called once per queue/worker and for the sent keys. */
  connection: NotifyConnection;
  config: NotifyConfig;
  logger: Logger;
  now?: () => number;
  counters?: Counters;
  /** development: every text the console channel "sends" (the simulated residents' phones) */
  consoleInbox?: (t: ConsoleText) => void;
  /** told of every delivery's outcome (sent, or failed for good): the evidence log keeps it */
  deliveries?: DeliveryRecorder;
  /**
   * Asked just before a reminder is sent: is it still wanted (its parcel still waiting)? A collected parcel's
   * reminder is withdrawn through the outbox (cancel), but a relay running behind can leave the job due first;
   * this is the last check, so a resident is never reminded of a parcel already taken. Absent: always sent.
   */
  stillWanted?: (notice: ParsedNotice) => Promise<boolean>;
}

export class Notifier {
  readonly config: ParsedNotifyConfig;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly counters: Counters | undefined;
  private readonly marks: SentMarks;
  private readonly stillWanted: NotifierDeps['stillWanted'];
  private readonly connection: NotifyConnection;
  private readonly ownClients: Redis[] = [];
  private readonly redis: Redis;
  private readonly queueByChannel: Record<ChannelName, Queue>;
  private readonly channels: Record<ChannelName, Channel>;
  /** notices due far ahead, until the pump moves them into their queue (see later.ts) */
  readonly later: LaterStore;
  private readonly pump: LaterPump;
  private workers: Worker[] = [];
  private closing: Promise<void> | null = null;

  constructor(deps: NotifierDeps) {
    const parsed = notifyConfigSchema.safeParse(deps.config);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ');
      throw new Error(`invalid notify configuration: ${issues}`);
    }
    this.config = parsed.data;
    this.logger = deps.logger.child({ component: 'notify' });
    this.now = deps.now ?? Date.now;
    this.counters = deps.counters;
    this.stillWanted = deps.stillWanted;
    this.connection = deps.connection;
    this.redis = this.client();
    this.redis.on('error', (err: Error) => this.logger.warn('notify redis error', { err }));
    this.later = new LaterStore(this.redis, this.config.prefix);
    this.marks = new SentMarks(this.redis, this.config.prefix, this.logger, deps.deliveries);

    const tz = this.config.timeZone;
    this.channels = {
      sms: this.config.sms ? new SmsChannel(this.config.sms, tz) : new ConsoleChannel(this.logger, tz, this.now, deps.consoleInbox),
      webhook: new WebhookChannel(this.config.propertyWebhook, this.now),
      console: new ConsoleChannel(this.logger, tz, this.now, deps.consoleInbox),
    };
    const defaultJobOptions = {
      attempts: this.config.attempts,
      backoff: { type: BACKOFF_TYPE, delay: this.config.backoffMs },
      removeOnComplete: { age: KEEP_COMPLETED_S },
      removeOnFail: { count: KEEP_FAILED_COUNT },
    };
    const make = (c: ChannelName) => {
      const q = new Queue(QUEUE_NAMES[c], { connection: this.bullConnection(), prefix: this.config.prefix, defaultJobOptions });
      q.on('error', (err: Error) => this.logger.warn('notify queue error', { queue: q.name, err }));
      return q;
    };
    this.queueByChannel = { sms: make('sms'), webhook: make('webhook'), console: make('console') };
    this.pump = new LaterPump({ later: this.later, queues: this.queueByChannel, now: this.now, pollMs: this.config.later.pollMs, logger: this.logger });
  }

  /** Where a route runs: the real provider when configured, else the console. */
  channelFor(route: Route, notice: ParsedNotice): ChannelName {
    if (route === 'sms') return this.config.sms ? 'sms' : 'console';
    return notice.to.webhook === 'property' && !this.config.propertyWebhook ? 'console' : 'webhook';
  }

  sentKey(jobId: string): string {
    return this.marks.key(jobId);
  }

  /**
   * Queue one job per route of the notice. Idempotent (see the class comment). A quiet notice due inside
   * quiet hours is delayed to their end. A job due `config.later.afterMs` or more ahead is kept in the later-store
   * until it is nearly due (an id already kept there is left as it is, as BullMQ does). Throws InvalidNoticeError
   * for a notice that can never be sent.
   */
  async enqueue(input: Notice): Promise<void> {
    const placed = placeJobs([this.jobsOf(input)], this.config.later.afterMs);
    await this.later.add(placed.later);
    for (const j of placed.now) await this.queueByChannel[j.data.channel].add(j.name, j.data, j.opts);
    await this.deliverAtOnce(placed.atOnce);
    this.logQueued(placed);
  }

  /**
   * enqueue() for many notices at once: one `addBulk` (one round trip) per queue instead of one script call per
   * job. Same jobs, same ids, same idempotence. Returns, per notice, the InvalidNoticeError that kept it out (the
   * others are queued all the same), or null.
   */
  async enqueueMany(inputs: readonly Notice[]): Promise<(InvalidNoticeError | null)[]> {
    const out: (InvalidNoticeError | null)[] = [];
    const jobs: NoticeJobs[] = [];
    for (const input of inputs) {
      try {
        jobs.push(this.jobsOf(input));
        out.push(null);
      } catch (err) {
        if (!(err instanceof InvalidNoticeError)) throw err;
        out.push(err);
      }
    }
    const placed = placeJobs(jobs, this.config.later.afterMs);
    await Promise.all([this.later.add(placed.later), addJobs(this.queueByChannel, placed.now), this.deliverAtOnce(placed.atOnce)]);
    this.logQueued(placed);
    return out;
  }

  /**
   * Console deliveries due now, without a queue (placeJobs): a log line, and in development the simulated phones'
   * inbox, cannot fail, so a BullMQ job for one (added, fetched, completed: ~37 Redis commands and ~0.35 ms of CPU,
   * bench/stack-floor.ts) bought nothing. Once each, as a job: one whose sent key exists is skipped, and the line is
   * written before the key (and the delivery's evidence), so a crash in between writes it again rather than never.
   */
  private async deliverAtOnce(jobs: readonly QueuedJob[]): Promise<void> {
    if (!jobs.length) return;
    const sent = await this.marks.areSent(jobs.map((j) => j.data.jobId));
    await Promise.all(
      jobs.map(async (j, i) => {
        if (sent[i]) return;
        await this.channels.console.send(j.data);
        await this.marks.mark(j.data, 'console');
        this.counters?.inc('notify_sent_total', { channel: 'console' });
      }),
    );
  }

  /**
   * The pump's round (it runs by itself where the workers run): the later-store's entries due within
   * `later.pollMs` by this notifier's clock into their queues. Returns how many it took. See pump.ts.
   */
  moveDue(): Promise<number> {
    return this.pump.moveDue();
  }

  private logQueued(placed: Placed): void {
    for (const j of placed.now) this.logger.debug('notice queued', { jobId: j.opts.jobId, channel: j.data.channel, kind: j.name, delay: j.opts.delay });
    for (const j of placed.atOnce) this.logger.debug('notice delivered at once (console)', { jobId: j.opts.jobId, kind: j.name });
    for (const j of placed.later) this.logger.debug('notice kept until nearly due', { jobId: j.data.jobId, channel: j.data.channel, kind: j.name, dueAt: j.dueAt });
  }

  /** The jobs of a notice, one per route; throws InvalidNoticeError for a notice that can never be sent. */
  private jobsOf(input: Notice): NoticeJobs {
    const parsed = noticeSchema.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new InvalidNoticeError(`invalid notice ${JSON.stringify((input as { id?: unknown })?.id ?? null)}: ${issues}`);
    }
    const notice = parsed.data;
    const routes = ROUTES.filter((r) => (r === 'sms' ? notice.to.sms : notice.to.webhook) !== undefined);
    if (notice.to.sms) {
      // Render once now so a notice missing a parameter is refused here rather than failing in a worker.
      try {
        renderText({ kind: notice.kind, lang: notice.to.lang, params: notice.params }, this.config.timeZone);
      } catch (err) {
        throw new InvalidNoticeError(`invalid notice ${notice.id}: ${(err as Error).message}`);
      }
    }
    const now = this.now();
    const due = notice.sendAt ?? now;
    const at = notice.quiet ? nextAllowed(due, this.config.timeZone, this.config.quietHours) : due;
    const delay = Math.max(0, at - now);
    const jobs = routes.map((route) => {
      const channel = this.channelFor(route, notice);
      const jobId = jobIdFor(notice.id, route);
      return { name: notice.kind, data: { jobId, route, channel, notice }, opts: { jobId, delay } };
    });
    return { at, jobs };
  }

  /**
   * Remove the still-pending jobs (waiting, delayed — including a retry waiting for its backoff) of these
   * notices. A job being sent right now cannot be stopped (BullMQ refuses to remove a locked job); a sent one
   * is left alone as the record that it was sent. Enqueueing a cancelled notice again schedules it again
   * (that is how a reminder is moved when a deadline is extended: cancel, then enqueue with the new sendAt).
   */
  async cancel(noticeIds: string[]): Promise<void> {
    await cancelPending(this.redis, this.queueByChannel, noticeIds, this.logger, this.later.keys);
  }

  /** The BullMQ workers, and the pump of the later-store (moveDue). */
  startWorkers(): void {
    if (this.workers.length > 0 || this.closing) return;
    this.pump.start();
    const w = this.config.worker ?? {};
    for (const channel of CHANNELS) {
      const rate = channel === 'sms' ? this.config.sms?.ratePerSecond : channel === 'webhook' ? this.config.webhookRatePerSecond : undefined;
      const worker = new Worker(QUEUE_NAMES[channel], (job, token) => this.process(channel, job, token), {
        connection: this.bullConnection(),
        prefix: this.config.prefix,
        concurrency: w.concurrency ?? (channel === 'console' ? 1 : 4),
        maxStalledCount: MAX_STALLS,
        // jobs queued before the cap came keep BullMQ's own 'exponential'
        settings: { backoffStrategy: (attemptsMade: number) => capped(attemptsMade, this.config.backoffMs, this.config.backoffMaxMs) },
        ...(rate ? { limiter: limiterFor(rate) } : {}),
        ...(w.lockDurationMs ? { lockDuration: w.lockDurationMs } : {}),
        ...(w.stalledIntervalMs ? { stalledInterval: w.stalledIntervalMs } : {}),
      });
      worker.on('error', (err) => this.logger.warn('notify worker error', { channel, err }));
      worker.on('stalled', (jobId) => this.logger.warn('notice job stalled (worker died?), will run again', { channel, jobId }));
      worker.on('failed', (job, err) => {
        if (!job) return;
        const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
        const fields = { channel, jobId: job.id, attempt: job.attemptsMade, reason: err.message };
        if (final) {
          this.counters?.inc('notify_failed_total', { channel });
          this.logger.error('notice failed permanently', fields);
          const parsed = noticeJobSchema.safeParse(job.data);
          if (parsed.success) void this.marks.record(parsed.data, channel, 'failed', err.message);
        } else this.logger.warn('notice attempt failed, will retry', fields);
      });
      worker.on('completed', (_job, ret: { result?: string } | undefined) => {
        if (ret?.result !== 'withdrawn') this.counters?.inc('notify_sent_total', { channel });
      });
      this.workers.push(worker);
    }
  }

  private async process(channel: ChannelName, job: Job, token: string | undefined): Promise<{ result: string }> {
    const parsed = noticeJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid job data: ${parsed.error.issues[0]?.message ?? ''}`);
    const data = parsed.data;
    const jobId = job.id ?? data.jobId;

    // A quiet notice that comes due inside quiet hours anyway (a retry's backoff, a backlog) waits for the
    // morning. moveToDelayed + DelayedError does not count as an attempt.
    if (data.notice.quiet) {
      const now = this.now();
      const at = nextAllowed(now, this.config.timeZone, this.config.quietHours);
      if (at > now) {
        await job.moveToDelayed(Date.now() + (at - now), token);
        this.logger.info('notice deferred to the end of quiet hours', { jobId, delay: at - now });
        throw new DelayedError();
      }
    }

    if (data.notice.kind === 'reminder' && this.stillWanted && !(await this.stillWanted(data.notice))) {
      this.logger.info('reminder no longer wanted (its parcel is no longer waiting), not sent', { jobId, channel });
      this.counters?.inc('notify_withdrawn_total', { channel });
      return { result: 'withdrawn' };
    }

    if ((await this.marks.areSent([data.jobId]))[0]) {
      this.logger.info('notice already sent, not sending again', { jobId, channel });
      return { result: 'already-sent' };
    }
    try {
      await this.channels[channel].send(data);
    } catch (err) {
      if (err instanceof PermanentError) throw new UnrecoverableError(err.message);
      throw err;
    }
    // Provider accepted: record it before anything else can fail (see the class comment, layer 2).
    await this.marks.mark(data, channel);
    if ('code' in data.notice.params) {
      // The pickup code is stored only hashed elsewhere; do not keep it in plain text in a completed job.
      const { code: _code, ...params } = data.notice.params;
      await job.updateData({ ...data, notice: { ...data.notice, params } }).catch((err: unknown) => {
        this.logger.warn('could not scrub the pickup code from a sent job', { jobId, err });
      });
    }
    return { result: 'sent' };
  }

  /** Permanently failed deliveries, newest first. */
  failures(limit = 50): Promise<FailedNotice[]> {
    return failedNotices(this.queueByChannel, limit);
  }

  queues(): Queue[] {
    return CHANNELS.map((c) => this.queueByChannel[c]);
  }

  /** The pump and the workers first (they finish the jobs in hand), then queues, then our own connections. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.pump.stop();
      await Promise.allSettled(this.workers.map((w) => w.close()));
      await Promise.allSettled(this.queues().map((q) => q.close()));
      await Promise.allSettled(this.ownClients.map((c) => c.quit()));
      for (const c of this.ownClients) c.disconnect();
    })();
    return this.closing;
  }

  private client(): Redis {
    const c = typeof this.connection === 'function' ? this.connection() : new Redis({ ...this.connection, maxRetriesPerRequest: null });
    this.ownClients.push(c);
    return c;
  }

  /** BullMQ gets options (it opens and closes its own connections) or an instance from the factory (ours). */
  private bullConnection(): ConnectionOptions {
    // ioredis' RedisOptions and BullMQ's structural copy of it differ in details irrelevant here.
    return typeof this.connection === 'function' ? this.client() : ({ ...this.connection } as ConnectionOptions);
  }
}
