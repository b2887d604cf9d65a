import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { UnitProfile, UnitState } from '../domain/model.js';
import type { EvidenceEntry } from '../evidence/entry.js';
import type { EvidenceLog } from '../evidence/log.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { Notice } from '../notify/types.js';
import { readAll } from '../store/reads.js';
import { fieldMap, type UnitStore } from '../store/units.js';
import { alertEnded, alertFromEntry, alertsFromState, clearsFromEntry, type AlertPolicy } from './rules.js';
import { alertId, type AlertStore, type RaiseResult } from './store.js';
import { alertSummary, type Alert, type AlertDraft, type AlertKind } from './types.js';

export const ALERTS_GROUP = 'alerts';

/** Kinds the parcel flows already send to the property webhook with a notice of their own. */
const WEBHOOKED: ReadonlySet<AlertKind> = new Set(['keypad-locked', 'parcel-missing', 'dead-letter']);

/**
 * The alert engine, fed from the evidence chains: every fact, transition and staff action passes through them (one
 * append path), so alerts need no hook in the flows that cause them. Each chain is read through the consumer group
 * `alerts`, so several gateways share the work and an entry is handled by one of them (again after a crash: handling
 * is idempotent, each occurrence is raised once). Conditions that come from time passing (a unit offline for five
 * minutes, a door left open) are checked every `checkMs` against the live state. Raised alerts reach the console
 * (their evidence entry feeds the live pages) and, through the notification queue, the staff on duty (SMS) and the
 * property's system (webhook). An alert whose condition ends (the unit back online, the door closed, the keypad
 * unlocked, the parcel found, the claim resolved, the lockdown lifted) is cleared: off the open list, kept in the
 * history with when and why, still open to acknowledgement; cleared from the entry that ends it, and by the state
 * check as a backstop. Each occurrence is still raised once: clearing frees the subject, not the occurrence.
 */
export class AlertEngine {
  private running = false;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private readonly streams = new Map<string, string>();
  private started = false;
  private lastScan = 0;

  constructor(
    private readonly d: {
      /** a connection of its own: XREADGROUP BLOCK holds it */
      blocking: Redis;
      redis: Redis;
      log: EvidenceLog;
      units: UnitStore;
      profiles: readonly UnitProfile[];
      alerts: AlertStore;
      clock: Clock;
      logger: Logger;
      counters: Counters;
      policy: AlertPolicy;
      /** the staff on duty, texted about every alert */
      dutyPhones: readonly string[];
      consumer: string;
      checkMs: number;
      blockMs?: number;
      claimIdleMs?: number;
      /** several gateways: look for a dead consumer's pending entries this often (default: only at start) */
      claimEveryMs?: number;
    },
  ) {}

  async start(): Promise<void> {
    await this.discover();
    this.started = true;
    this.running = true;
    this.loop = this.run();
    this.timer = setInterval(() => void this.check(), this.d.checkMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.d.blocking.disconnect();
    await this.loop;
    await this.checking;
  }

  /** Chains not read yet: their group starts at the end for chains found at the first start, else at the beginning. */
  private async discover(): Promise<void> {
    this.lastScan = Date.now();
    for (const chain of await this.d.log.chains()) {
      if (this.streams.has(chain)) continue;
      const stream = this.d.log.k.evidence(chain);
      try {
        await this.d.redis.xgroup('CREATE', stream, ALERTS_GROUP, this.started ? '0' : '$');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
      this.streams.set(chain, stream);
    }
  }

  private async run(): Promise<void> {
    let backlog = true;
    let lastClaim = Date.now();
    while (this.running) {
      if (this.d.claimEveryMs && Date.now() - lastClaim > this.d.claimEveryMs) {
        lastClaim = Date.now();
        backlog = true;
      }
      try {
        if (Date.now() - this.lastScan >= 5_000 || this.streams.size === 0) {
          await this.discover();
          if (this.streams.size === 0) {
            await new Promise((r) => setTimeout(r, 200));
            continue;
          }
        }
        if (backlog) {
          // what this consumer was handed and never acknowledged (a crash), then what a dead consumer left
          while (this.running && (await this.read('0', 0)) > 0);
          await this.claimAbandoned();
          backlog = false;
        }
        await this.read('>', this.d.blockMs ?? 2_000);
      } catch (err) {
        if (!this.running) break;
        this.d.logger.warn('alerts: reading the evidence chains failed; retrying', { err });
        backlog = true;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private async read(from: '0' | '>', blockMs: number): Promise<number> {
    const chains = [...this.streams.keys()];
    const res = (await this.d.blocking.call(
      'XREADGROUP',
      'GROUP',
      ALERTS_GROUP,
      this.d.consumer,
      'COUNT',
      200,
      ...(from === '>' ? ['BLOCK', blockMs] : []),
      'STREAMS',
      ...chains.map((c) => this.streams.get(c)!),
      ...chains.map(() => from),
    )) as [string, [string, string[] | null][]][] | null;
    let n = 0;
    for (const [stream, entries] of res ?? []) {
      const chain = stream.slice(this.d.log.k.evidence('').length);
      for (const [id, fields] of entries) {
        await this.handle(chain, id, fields);
        n++;
      }
      if (entries.length) await this.d.redis.xack(stream, ALERTS_GROUP, ...entries.map(([id]) => id));
    }
    return n;
  }

  private async claimAbandoned(): Promise<void> {
    for (const [chain, stream] of this.streams) {
      let cursor = '0-0';
      do {
        const [next, entries] = (await this.d.redis.xautoclaim(stream, ALERTS_GROUP, this.d.consumer, this.d.claimIdleMs ?? 60_000, cursor, 'COUNT', 100)) as [
          string,
          [string, string[] | null][],
        ];
        cursor = next;
        for (const [id, fields] of entries) await this.handle(chain, id, fields);
        if (entries.length) await this.d.redis.xack(stream, ALERTS_GROUP, ...entries.map(([id]) => id));
      } while (cursor !== '0-0' && this.running);
    }
  }

  /** One evidence entry: the alert it raises, if any. A broken entry is logged and skipped (verify reports it). */
  private async handle(chain: string, id: string, fields: string[] | null): Promise<void> {
    if (!fields) return; // trimmed by retention while pending
    let entry: EvidenceEntry;
    try {
      entry = JSON.parse(fieldMap(fields).e ?? '') as EvidenceEntry;
    } catch {
      this.d.logger.warn('alerts: an unreadable evidence entry', { chain, id });
      return;
    }
    if (!entry || typeof entry.kind !== 'string') return;
    let doorOpenedAt: number | null = null;
    if (entry.kind === 'alarm' && entry.alarm === 'door_left_open' && typeof entry.unit === 'string' && typeof entry.compartment === 'number') {
      const c = (await this.d.units.unit(entry.unit))?.compartments.find((x) => x.no === entry.compartment);
      doorOpenedAt = c?.doorOpen ? c.updatedAt : null;
    }
    const draft = alertFromEntry(entry, `${chain}/${id}`, { doorOpenedAt });
    if (draft) await this.raise(draft);
    const ends = clearsFromEntry(entry);
    if (ends) {
      const ids = await this.d.alerts.openBySubject(ends);
      for (const alert of ids) await this.clear(alert, ends.reason);
    }
  }

  /** Time-based conditions, against the live state (every checkMs; tests call it with their own clock). */
  check(): Promise<void> {
    this.checking ??= (async () => {
      try {
        // The open alerts before the state: each was raised before the state was read, so the state is at least as
        // new as what raised it (read the other way round, a keypad lock raised in between would be judged by the
        // state before the lock, and cleared at once).
        const open = await this.d.alerts.open(1000);
        // Every unit in brief (online, since, any door open), then in full only the units with a door open or an open
        // alert: reading 1,000 units' full state every checkMs was most of an idle fleet's garbage.
        const briefs = await this.d.units.briefs();
        const wanted = new Set<string>();
        for (const b of briefs) if (b.anyDoorOpen) wanted.add(b.id);
        for (const a of open) if (a.unit) wanted.add(a.unit);
        const full = await readAll(this.d.redis, [...wanted].map((id) => this.d.units.unitRead(id)));
        const units = full.filter((u): u is UnitState => u !== null);
        const byId = new Map(units.map((u) => [u.id, u]));
        const conditions = briefs.map((b) => byId.get(b.id) ?? { id: b.id, online: b.online, since: b.since, compartments: [] });
        for (const draft of alertsFromState(conditions, this.d.clock.now(), this.d.policy)) await this.raise(draft);
        // conditions that ended without an entry that cleared them (read by another engine before the alert was raised)
        for (const a of open) {
          const why = alertEnded(a, units) ?? (await this.endedElsewhere(a));
          if (why) await this.clear(a.id, why);
        }
      } catch (err) {
        this.d.logger.warn('alerts: checking the units failed; will try again', { err });
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  async raise(draft: AlertDraft): Promise<RaiseResult> {
    const r = await this.d.alerts.raise(draft, this.notices(draft), this.d.clock.now());
    if (r.status === 'raised') {
      this.d.counters.inc('lg_alerts_raised_total', { kind: draft.kind });
      this.d.logger.warn('staff alert raised', { id: r.id, kind: draft.kind, unit: draft.unit, compartment: draft.compartment, key: draft.key });
    }
    return r;
  }

  /**
   * Backstop for the alerts ended by an entry only (clearsFromEntry): with several engines, the entry that ends one may
   * be read by another engine before this one raised it. Their records say: the parcel no longer missing, the claim
   * resolved or closed, the lockdown gone.
   */
  private async endedElsewhere(a: Alert): Promise<string | null> {
    const k = this.d.log.k;
    if (a.kind === 'parcel-missing' && a.parcel) {
      const j = await this.d.redis.hget(k.parcel(a.parcel), 'j');
      const state = j ? (JSON.parse(j) as { state?: string }).state : undefined;
      return state && state !== 'missing' ? `parcel-${state}` : null;
    }
    if (a.kind === 'claim-clock' && a.claim) {
      const state = await this.d.redis.hget(k.claim(a.claim), 'state');
      return state === 'resolved' || state === 'closed' ? `claim-${state}` : null;
    }
    if (a.kind === 'lockdown') {
      const scope = a.subject.slice('lockdown:'.length);
      const held = await this.d.redis.exists(scope === 'fleet' ? k.lockdownFleet : k.lockdownUnit(scope));
      return held ? null : 'lockdown-lifted';
    }
    return null;
  }

  /** The alert's condition ended: cleared once (several engines may find it), counted, logged. */
  private async clear(id: string, reason: string): Promise<void> {
    const alert = await this.d.alerts.get(id);
    if (!alert || (await this.d.alerts.clear(id, reason, this.d.clock.now())) !== 'ok') return;
    this.d.counters.inc('lg_alerts_cleared_total', { kind: alert.kind });
    this.d.logger.info('staff alert cleared', { id, kind: alert.kind, unit: alert.unit, compartment: alert.compartment, reason });
  }

  /** To the staff on duty by SMS, and to the property's system unless a notice of its own already went there. */
  private notices(draft: AlertDraft): Notice[] {
    if (draft.notified) return [];
    const id = alertId(draft.key);
    const profile = draft.unit ? this.d.profiles.find((p) => p.id === draft.unit) : undefined;
    const params: Record<string, string | number> = {
      alert: id,
      alertKind: draft.kind,
      summaryZh: `${profile ? `${profile.siteName.zh} ` : ''}${alertSummary(draft, 'zh')}`,
      summaryEn: `${profile ? `${profile.siteName.en}: ` : ''}${alertSummary(draft, 'en')}`,
      ...(draft.unit ? { unit: draft.unit } : {}),
      ...(profile ? { siteZh: profile.siteName.zh, siteEn: profile.siteName.en } : {}),
      ...(draft.compartment !== undefined ? { compartment: draft.compartment } : {}),
    };
    const out: Notice[] = [];
    if (!WEBHOOKED.has(draft.kind)) out.push({ id: `alert.${id}.property`, kind: 'staff-alert', to: { lang: 'zh', webhook: 'property' }, params });
    this.d.dutyPhones.forEach((phone, i) => {
      out.push({ id: `alert.${id}.duty-${i}`, kind: 'staff-alert', to: { lang: 'zh', sms: phone }, params });
    });
    return out;
  }
}
