import type { Queue } from 'bullmq';
import type { Logger } from '../log.js';
import { addJobs, type QueuedJob } from './jobs.js';
import { LATER_BATCH, LATER_LEASE_MS, type ClaimedJob, type LaterStore } from './later.js';
import { removeIfPending } from './pending.js';
import type { ChannelName } from './types.js';

/**
 * Moves the later-store's due entries into their queues (see later.ts for why it is safe with several pumps at once
 * and across crashes). Runs where the notification workers run (Notifier.startWorkers), stopped by Notifier.close.
 */
export class LaterPump {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly d: {
      later: LaterStore;
      queues: Record<ChannelName, Queue>;
      now: () => number;
      /** how often it looks, and how far ahead: an entry due within this is moved with the rest of its delay */
      pollMs: number;
      logger: Logger;
    },
  ) {}

  /**
   * The entries due within `pollMs` (by the injected clock) into their queues, at most LATER_BATCH at a time, each
   * with the rest of its wait as its delay. Returns how many entries it took (LATER_BATCH: there may be more).
   */
  async moveDue(): Promise<number> {
    const { later, queues, logger } = this.d;
    const now = this.d.now();
    const leaseEnd = now + LATER_LEASE_MS;
    const claimed = await later.claim(now + this.d.pollMs, leaseEnd);
    if (!claimed.length) return 0;
    const jobs: QueuedJob[] = [];
    for (const c of claimed) {
      if (c.job) jobs.push({ name: c.job.name, data: c.job.data, opts: { jobId: c.jobId, delay: Math.max(0, c.job.dueAt - now) } });
      else logger.error('a later-store entry is not a notice job: dropped', { jobId: c.jobId });
    }
    await addJobs(queues, jobs);
    const results = await later.done(leaseEnd, claimed);
    // withdrawn (or replaced by a new time) while it was being moved: the job just added is not wanted
    await Promise.all(claimed.map((c, i) => (results[i] === 0 ? this.unqueue(c) : undefined)));
    logger.debug('due notices moved into their queues', { count: claimed.length });
    return claimed.length;
  }

  private async unqueue(c: ClaimedJob): Promise<void> {
    if (!c.job) return;
    const channel = c.job.data.channel;
    const removed = await removeIfPending(this.d.queues[channel], c.jobId, c.job.data);
    this.d.logger.info('notice withdrawn while it was moved into its queue', { jobId: c.jobId, channel, removed });
  }

  /** moveDue every `pollMs` (again at once after a full batch) until stop(). The timer does not keep Node alive. */
  start(): void {
    if (this.timer || this.running || this.stopped) return;
    const tick = () => {
      this.timer = null;
      this.running = this.moveDue()
        .then(
          (n) => {
            if (this.failing) this.d.logger.info('due notices move into their queues again');
            this.failing = false;
            return n >= LATER_BATCH;
          },
          (err: unknown) => {
            // once per outage, not every round
            if (!this.failing) this.d.logger.warn('could not move due notices into their queues (trying again every round)', { err });
            this.failing = true;
            return false;
          },
        )
        .then((full) => {
          this.running = null;
          if (this.stopped) return;
          this.timer = setTimeout(tick, full ? 0 : this.d.pollMs);
          this.timer.unref();
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  /** No more rounds; waits for the one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
