import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import { Checkpoints } from './checkpoints.js';
import { EvidenceLog } from './log.js';
import { Retention } from './retention.js';
import { Timelines } from './timeline.js';
import { Verifier } from './verify.js';

export { EvidenceLog, unitChain, OFFICE_CHAIN } from './log.js';
export type { Actor, EvidenceEntry } from './entry.js';

/** The evidence log and what is done with it: checkpoints, verification, timelines, retention. */
export class Evidence {
  readonly checkpoints: Checkpoints;
  readonly verifier: Verifier;
  readonly timelines: Timelines;
  readonly retention: Retention;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    readonly log: EvidenceLog,
    private readonly d: { redis: Redis; prefix: string; secret: Buffer; clock: Clock; logger: Logger; retentionDays: number },
  ) {
    this.checkpoints = new Checkpoints(d.redis, d.prefix, log, d.secret, d.clock);
    this.verifier = new Verifier(d.redis, d.prefix, log, this.checkpoints);
    this.timelines = new Timelines(d.redis, d.prefix);
    this.retention = new Retention({ redis: d.redis, prefix: d.prefix, log, checkpoints: this.checkpoints, clock: d.clock, logger: d.logger, retentionDays: d.retentionDays });
  }

  /**
   * Checkpoint every chain that moved, every `checkpointMs`; apply retention every hour. `once` (several gateways,
   * src/scale/once.ts): whether this gateway is the one to run a job this period.
   */
  start(checkpointMs: number, once?: (what: string, periodMs: number) => Promise<boolean>): void {
    const guard = (what: string, periodMs: number, fn: () => Promise<unknown>) => () =>
      void (async () => {
        if (once && !(await once(`evidence-${what}`, periodMs))) return;
        await fn();
      })().catch((err: unknown) => this.d.logger.error(`evidence: ${what} failed; will try again`, { err }));
    this.timers.push(setInterval(guard('checkpoint', checkpointMs, () => this.checkpoints.takeAll()), checkpointMs));
    this.timers.push(setInterval(guard('retention', 3_600_000, () => this.retention.run()), 3_600_000));
  }

  /** A last checkpoint at shutdown, so a tail cut while the gateway is down is caught too. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.checkpoints.takeAll().catch((err: unknown) => this.d.logger.warn('evidence: final checkpoint failed', { err }));
  }
}
