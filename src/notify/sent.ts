import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { SENT_TTL_S } from './jobs.js';
import type { ChannelName, NoticeJob } from './types.js';

/** Where delivery outcomes go (src/evidence/notices.ts records them in the evidence log). */
export interface DeliveryRecorder {
  record(job: NoticeJob, channel: ChannelName, result: 'sent' | 'failed', detail?: string): Promise<void>;
  /**
   * The provider accepted: set the job's sent key (`sent`, unless it exists) and, when it did not exist, record the
   * delivery, in one step. Returns whether the key was set here (false: another run of the job got there first, and
   * nothing is recorded). Absent: the notifier sets the key and then calls record().
   */
  recordSent?(job: NoticeJob, channel: ChannelName, sent: { key: string; value: string; ttlS: number }): Promise<boolean>;
}

/**
 * A delivery's sent key and its evidence: what keeps a notice to one text when its job runs again (layer 2 of the
 * notifier's class comment). `${prefix}:sent:${jobId}`, kept SENT_TTL_S.
 */
export class SentMarks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly deliveries: DeliveryRecorder | undefined,
  ) {}

  key(jobId: string): string {
    return `${this.prefix}:sent:${jobId}`;
  }

  /** Whether each of these jobs was sent already (its key exists), in one round trip. */
  async areSent(jobIds: readonly string[]): Promise<boolean[]> {
    if (jobIds.length === 1) return [(await this.redis.exists(this.key(jobIds[0]!))) === 1];
    const pipe = this.redis.pipeline();
    for (const id of jobIds) pipe.exists(this.key(id));
    return ((await pipe.exec()) ?? []).map(([err, n]) => {
      if (err) throw err;
      return n === 1;
    });
  }

  /** The sent key, and the delivery's evidence if the key was not there yet (one step when the recorder can). */
  async mark(data: NoticeJob, channel: ChannelName): Promise<void> {
    const key = this.key(data.jobId);
    const value = String(Date.now());
    if (this.deliveries?.recordSent) {
      try {
        await this.deliveries.recordSent(data, channel, { key, value, ttlS: SENT_TTL_S });
        return;
      } catch (err) {
        // the key at least (the evidence is what may have failed): as record() failing below
        this.logger.warn('could not record a delivery in the evidence log', { jobId: data.jobId, result: 'sent', err });
        await this.redis.set(key, value, 'EX', SENT_TTL_S, 'NX');
        return;
      }
    }
    const first = await this.redis.set(key, value, 'EX', SENT_TTL_S, 'NX');
    if (first) await this.record(data, channel, 'sent');
  }

  /** A delivery's outcome in the evidence log; a failure to record it is logged, not thrown. */
  async record(job: NoticeJob, channel: ChannelName, result: 'sent' | 'failed', detail?: string): Promise<void> {
    try {
      await this.deliveries?.record(job, channel, result, detail);
    } catch (err) {
      this.logger.warn('could not record a delivery in the evidence log', { jobId: job.jobId, result, err });
    }
  }
}
