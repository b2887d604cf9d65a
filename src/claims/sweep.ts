import { alertKey, alertsDue } from '../domain/claim-clocks.js';
import { ACTIVE_CLAIM_STATES, ClaimRuleError, type ClaimActor } from '../domain/claims.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { ClaimRecord } from '../store/claims.js';
import { alertNotices, noticeEvidence, type ClaimNoticePolicy } from './notices.js';
import type { ClaimService } from './service.js';

const SWEEP: ClaimActor = { type: 'system', id: 'claim-sweep' };

/**
 * The claims' clocks, watched: every `everyMs`, each unresolved claim's clocks are computed from its log, and each
 * stage reached (80 %, then past the limit) of each clock is alerted once, to the property webhook and the phones on
 * duty. Resolved claims are closed once their reopening window has ended. Idempotent, so every gateway may run it: an
 * alert is recorded in the same atomic step as its notices, on condition that it was not recorded before and that the
 * claim has not changed since it was read (a claim acknowledged in between is not alerted about).
 */
export class ClaimSweep {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<{ alerts: number; closed: number }> | null = null;

  constructor(
    private readonly d: { service: ClaimService; clock: Clock; logger: Logger; counters: Counters; policy: ClaimNoticePolicy; everyMs: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.run().catch((err: unknown) => this.d.logger.error('claim sweep failed; will try again', { err }));
    }, this.d.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.current?.catch(() => undefined);
  }

  /** One pass; a pass already under way in this process is joined rather than run twice. */
  run(): Promise<{ alerts: number; closed: number }> {
    this.current ??= this.pass().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private async pass(): Promise<{ alerts: number; closed: number }> {
    const store = this.d.service.store;
    const now = this.d.clock.now();
    let alerts = 0;
    let closed = 0;
    const ids = (await Promise.all([...ACTIVE_CLAIM_STATES].map((s) => store.openedAsc(store.k.claimsByState(s), '-inf', '+inf')))).flat();
    for (const rec of await store.many(ids)) {
      await this.each('alert', rec.claim.id, async () => {
        alerts += await this.alert(rec, now);
      });
    }
    for (const id of await store.dueForClosing(now)) {
      await this.each('close', id, async () => {
        try {
          await this.d.service.act(id, { action: 'close', note: 'reopening window over / 重新申诉期已过' }, SWEEP);
          closed++;
        } catch (err) {
          if (!(err instanceof ClaimRuleError)) throw err;
          await store.redis.zrem(store.k.claimsAutoClose, id); // reopened or closed meanwhile
        }
      });
    }
    return { alerts, closed };
  }

  private async alert(rec: ClaimRecord, now: number): Promise<number> {
    const store = this.d.service.store;
    const clocks = this.d.service.clocksOf(rec, now);
    const due = alertsDue(clocks);
    if (!due.length) return 0;
    const sent = await store.alertsSent(rec.claim.id);
    let n = 0;
    for (const a of due) {
      const key = alertKey(a);
      if (sent[key]) continue;
      const clock = a.clock === 'ack' ? clocks.ack : clocks.resolve;
      const notices = alertNotices(rec.claim, a, clock, this.d.policy, now);
      const entry = {
        at: now,
        kind: 'claim-alert',
        actor: SWEEP,
        claim: rec.claim.id,
        ref: rec.claim.ref,
        clock: a.clock,
        stage: a.stage,
        round: a.round,
        elapsedMs: clock.elapsedMs,
        limitMs: clock.limitMs,
        dutyPhones: this.d.policy.dutyPhones.length,
      };
      if (await store.alert(rec.claim, key, now, notices, [entry, ...noticeEvidence(rec.claim, notices, now)])) {
        n++;
        this.d.counters.inc('lg_claim_alerts_total', { clock: a.clock, stage: a.stage });
        this.d.logger.warn('claim clock alert', { claim: rec.claim.id, ref: rec.claim.ref, clock: a.clock, stage: a.stage, round: a.round });
      }
    }
    return n;
  }

  private async each(what: string, id: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.d.counters.inc('lg_sweep_errors_total', { what: `claim-${what}` });
      this.d.logger.error('claim sweep: one claim failed; the others go on', { what, claim: id, err });
    }
  }
}
