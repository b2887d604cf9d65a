import type { Redis } from 'ioredis';
import type { UnitProfile } from '../domain/model.js';
import type { Actor, EvidenceEntry } from '../evidence/entry.js';
import { HeadMoved, OFFICE_CHAIN, unitChain, type EvidenceLog } from '../evidence/log.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { keys, type Keys } from '../store/keys.js';
import type { Read } from '../store/reads.js';
import { Tx } from '../store/tx.js';
import { ADMIT, ADMIT_KEYS } from './open-guard-lua.js';

/**
 * Every door open passes here (CommandBus.send calls admit() for op `open`), in one atomic Redis step shared by every
 * gateway on the same Redis:
 * - Rate limits: opens per unit and across the fleet per minute (sliding window), every kind of open, admins too.
 * - Unexplained opens: an open is *explained* when a parcel intent explains it and the parcel's own party asked for
 *   it (a courier's deposit or return, a resident's code). Everything else is *unexplained*: raw staff commands, and
 *   staff opens even through a parcel's intent (a stolen staff token would use them to empty every full
 *   compartment). More than a few unexplained opens within a minute at one unit (or across the fleet) is the
 *   "mass remote open" attack: it trips a lockdown of that unit (or the fleet).
 * - Lockdown: every open is refused except an admin's, until an admin lifts it. The lockdown, its evidence entry
 *   and the staff alert are written in one atomic step, once, however many gateways trip it at the same moment.
 */
export type OpenIntent = 'deposit' | 'pickup' | 'return';
export type LockScope = 'unit' | 'fleet';

export interface OpenLimits {
  /** opens admitted per unit per minute */
  perUnit: number;
  fleet: number;
  /** more unexplained opens than this within a minute at one unit lock it down */
  unexplainedPerUnit: number;
  /** … across the fleet, the fleet */
  unexplainedFleet: number;
}

export const WINDOW_MS = 60_000;

export function openLimits(c: {
  OPEN_RATE_PER_UNIT_PER_MIN: number;
  OPEN_RATE_FLEET_PER_MIN: number;
  LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN: number;
  LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN: number;
}): OpenLimits {
  return {
    perUnit: c.OPEN_RATE_PER_UNIT_PER_MIN,
    fleet: c.OPEN_RATE_FLEET_PER_MIN,
    unexplainedPerUnit: c.LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN,
    unexplainedFleet: c.LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN,
  };
}

/** A lockdown in force. `unit` is null for the fleet. */
export interface Lockdown {
  scope: LockScope;
  unit: string | null;
  since: number;
  cause: 'burst' | 'manual';
  reason: string;
  by: Actor;
}

export interface OpenRequest {
  unit: string;
  compartment: number;
  commandId: string;
  actor: Actor;
  /** the parcel intent the open is for, if any */
  intent?: OpenIntent | undefined;
  /** the actor is an admin: passes a lockdown (never the rate limits) */
  admin?: boolean | undefined;
}

export type Admission =
  | { ok: true; tripped: Lockdown | null }
  | { ok: false; why: 'locked_down' | 'rate_limited'; scope: LockScope; retryAfterMs: number | null; tripped: Lockdown | null };

/** An open the guard refused: never sent to the unit. */
export class OpenRefused extends Error {
  constructor(
    readonly why: 'locked_down' | 'rate_limited',
    readonly scope: LockScope,
    readonly retryAfterMs: number | null,
  ) {
    super(
      why === 'locked_down'
        ? `${scope === 'fleet' ? 'every locker is' : 'this locker is'} locked down: doors open for an admin only until an admin lifts it; please call the property office`
        : `too many doors opened ${scope === 'fleet' ? 'across the lockers' : 'at this locker'} in the last minute; try again shortly`,
    );
    this.name = 'OpenRefused';
  }
}

/** What a locked-down unit's screen says (≤ 40 characters; the English alone on an ASCII screen). */
export const LOCKDOWN_SCREEN = { zh: '暂停使用 请联系物业', en: 'Locked down: call the office' } as const;


type WithAdmit = Redis & { lgOpenAdmit(...args: (string | number)[]): Promise<[string, string, number]> };

export class OpenGuard {
  readonly k: Keys;
  private readonly redis: WithAdmit;
  private readonly tx: Tx;

  constructor(
    private readonly d: {
      redis: Redis;
      prefix: string;
      evidence: EvidenceLog;
      units: readonly UnitProfile[];
      limits: OpenLimits;
      counters: Counters;
      logger: Logger;
      now: () => number;
    },
  ) {
    this.k = keys(d.prefix);
    if (!('lgOpenAdmit' in d.redis)) d.redis.defineCommand('lgOpenAdmit', { numberOfKeys: ADMIT_KEYS, lua: ADMIT });
    this.redis = d.redis as WithAdmit;
    this.tx = new Tx(d.redis);
  }

  get limits(): OpenLimits {
    return this.d.limits;
  }

  /** Whether an open may go to the unit; a burst it completes is locked down (and alerted) before this returns. */
  async admit(req: OpenRequest): Promise<Admission> {
    const { keys, args } = this.admitCall(req);
    return this.settle(req, await this.redis.lgOpenAdmit(...keys, ...args));
  }

  /**
   * The guard's atomic step for an open, as the keys and arguments of its script (open-guard-lua.ts): run alone by
   * admit(), or by the command's own script (bus/command-lua.ts) with the command's record and evidence entry.
   */
  admitCall(req: OpenRequest): { keys: string[]; args: (string | number)[] } {
    const explained = req.intent !== undefined && req.actor.type !== 'staff';
    const l = this.d.limits;
    return {
      keys: [
        this.k.lockdownUnit(req.unit),
        this.k.lockdownFleet,
        this.k.opensUnit(req.unit, 'explained'),
        this.k.opensUnit(req.unit, 'unexplained'),
        this.k.opensFleet('explained'),
        this.k.opensFleet('unexplained'),
        this.k.opensUnit(req.unit, 'burst'),
        this.k.opensFleet('burst'),
      ],
      args: [this.d.now(), WINDOW_MS, req.commandId, explained ? 1 : 0, req.admin ? 1 : 0, l.perUnit, l.fleet, l.unexplainedPerUnit, l.unexplainedFleet],
    };
  }

  /** What the guard's step answered ({outcome, scope, n}): counted, logged, and a burst it completed locked down. */
  async settle(req: OpenRequest, [outcome, scope, n]: [string, string, number | string]): Promise<Admission> {
    const explained = req.intent !== undefined && req.actor.type !== 'staff';
    const kind = explained ? 'explained' : 'unexplained';
    const l = this.d.limits;
    const count = (what: string) => this.d.counters.inc('lg_opens_total', { unit: req.unit, kind, outcome: what });
    let tripped: Lockdown | null = null;
    if ((outcome === 'trip' || outcome === 'ok') && (scope === 'unit' || scope === 'fleet')) {
      const limit = scope === 'unit' ? l.unexplainedPerUnit : l.unexplainedFleet;
      const where = scope === 'unit' ? `at ${req.unit}` : 'across the fleet';
      const r = await this.lockDown(scope === 'unit' ? req.unit : null, { type: 'system', id: 'open-guard' }, `${n} unexplained opens within a minute ${where} (more than ${limit})`, 'burst', {
        count: Number(n),
        trigger: { unit: req.unit, compartment: req.compartment, commandId: req.commandId, actor: req.actor },
      });
      if (r.created) tripped = r.lockdown;
    }
    if (outcome === 'ok') {
      count('admitted');
      return { ok: true, tripped };
    }
    const refusedScope: LockScope = scope === 'fleet' ? 'fleet' : 'unit';
    if (outcome === 'rate_limited') {
      count('rate_limited');
      this.d.logger.warn('open refused: rate limit', { unit: req.unit, compartment: req.compartment, scope: refusedScope, actor: req.actor });
      return { ok: false, why: 'rate_limited', scope: refusedScope, retryAfterMs: Number(n), tripped };
    }
    count(outcome === 'trip' ? 'tripped' : 'locked_down');
    this.d.logger.warn('open refused: locked down', { unit: req.unit, compartment: req.compartment, scope: refusedScope, actor: req.actor });
    return { ok: false, why: 'locked_down', scope: refusedScope, retryAfterMs: null, tripped };
  }

  private lockKey(unit: string | null): string {
    return unit ? this.k.lockdownUnit(unit) : this.k.lockdownFleet;
  }

  private async read(key: string): Promise<{ raw: string; lockdown: Lockdown } | null> {
    const raw = await this.d.redis.get(key);
    return raw ? { raw, lockdown: JSON.parse(raw) as Lockdown } : null;
  }

  /**
   * Lock down a unit (or the fleet: `unit` null). The lockdown, its evidence entry (the unit's chain, or the office's
   * for the fleet) and the staff alert (property webhook) are one atomic step; a lockdown already in force is kept
   * as it is (`created` false: nothing written, no second alert).
   */
  async lockDown(
    unit: string | null,
    actor: Actor,
    reason: string,
    cause: Lockdown['cause'] = 'manual',
    detail: Record<string, unknown> = {},
  ): Promise<{ lockdown: Lockdown; created: boolean }> {
    const profile = unit ? this.d.units.find((u) => u.id === unit) : null;
    if (unit && !profile) throw new Error(`no unit ${unit}`);
    const key = this.lockKey(unit);
    for (let i = 0; ; i++) {
      const since = this.d.now();
      const scope: LockScope = unit ? 'unit' : 'fleet';
      const lockdown: Lockdown = { scope, unit, since, cause, reason, by: actor };
      const entry: EvidenceEntry = { at: since, kind: 'lockdown', actor, ...(unit ? { unit } : {}), scope, cause, reason, ...detail };
      const notice = {
        id: `lockdown.${unit ?? 'fleet'}.${since}`,
        kind: 'lockdown',
        to: { lang: 'zh', webhook: 'property' },
        params: {
          scope,
          cause,
          reason,
          since,
          ...(profile ? { unit: profile.id, siteZh: profile.siteName.zh, siteEn: profile.siteName.en } : {}),
          ...(typeof detail.count === 'number' ? { count: detail.count } : {}),
          ...(actor.type === 'staff' ? { by: actor.name ?? actor.id } : {}),
        },
      };
      const created = await this.d.evidence.within(unit ? unitChain(unit) : OFFICE_CHAIN, [entry], async (spec) => {
        const r = await this.tx.apply(
          [{ key, absent: true }],
          [
            ['SET', key, JSON.stringify(lockdown)],
            ['XADD', this.k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice)],
          ],
          spec,
        );
        if (r instanceof HeadMoved) return r;
        return { result: r !== null, appended: r !== null };
      });
      if (created) {
        this.d.counters.inc('lg_lockdowns_total', { scope, cause });
        this.d.logger.warn('lockdown: doors open for admins only until an admin lifts it', { unit, cause, reason, by: actor });
        return { lockdown, created: true };
      }
      const existing = await this.read(key);
      if (existing) return { lockdown: existing.lockdown, created: false };
      if (i >= 5) throw new Error('lockdown kept changing; try again');
    }
  }

  /**
   * Lift a lockdown (admins only: the HTTP route checks the role). Its burst count starts afresh, so the opens that
   * tripped it do not trip it again at the next open (they still count toward the rate limits for their minute).
   * Returns the lockdown lifted, or null if none.
   */
  async lift(unit: string | null, actor: Actor, reason?: string): Promise<Lockdown | null> {
    const key = this.lockKey(unit);
    for (let i = 0; i < 5; i++) {
      const cur = await this.read(key);
      if (!cur) return null;
      const entry: EvidenceEntry = {
        at: this.d.now(),
        kind: 'lockdown-lifted',
        actor,
        ...(unit ? { unit } : {}),
        scope: cur.lockdown.scope,
        lockedSince: cur.lockdown.since,
        cause: cur.lockdown.cause,
        ...(reason ? { reason } : {}),
      };
      const done = await this.d.evidence.within(unit ? unitChain(unit) : OFFICE_CHAIN, [entry], async (spec) => {
        const r = await this.tx.apply([{ key, value: cur.raw }], [['DEL', key], ['DEL', unit ? this.k.opensUnit(unit, 'burst') : this.k.opensFleet('burst')]], spec);
        if (r instanceof HeadMoved) return r;
        return { result: r !== null, appended: r !== null };
      });
      if (done) {
        this.d.counters.inc('lg_lockdown_lifts_total', { scope: cur.lockdown.scope });
        this.d.logger.warn('lockdown lifted', { unit, by: actor });
        return cur.lockdown;
      }
    }
    throw new Error('lockdown kept changing; try again');
  }

  /** The lockdown that stops opens at a unit now: its own, else the fleet's; null if none. */
  async lockdownOf(unit: string): Promise<Lockdown | null> {
    const [own, fleet] = await this.d.redis.mget(this.k.lockdownUnit(unit), this.k.lockdownFleet);
    return lockdownIn(own ?? null, fleet ?? null);
  }

  /** lockdownOf(), as a read that can share a pipeline (store/reads.ts). */
  lockdownRead(unit: string): Read<Lockdown | null> {
    return {
      n: 1,
      add: (pipe) => pipe.mget(this.k.lockdownUnit(unit), this.k.lockdownFleet),
      decode: ([raws]) => {
        const [own, fleet] = raws as (string | null)[];
        return lockdownIn(own ?? null, fleet ?? null);
      },
    };
  }

  /** Every lockdown in force: the fleet's and each unit's own. */
  async overview(): Promise<{ fleet: Lockdown | null; units: Record<string, Lockdown | null> }> {
    const ids = this.d.units.map((u) => u.id);
    const raws = await this.d.redis.mget(this.k.lockdownFleet, ...ids.map((id) => this.k.lockdownUnit(id)));
    const parse = (r: string | null | undefined) => (r ? (JSON.parse(r) as Lockdown) : null);
    return { fleet: parse(raws[0]), units: Object.fromEntries(ids.map((id, i) => [id, parse(raws[i + 1])])) };
  }
}

/** The lockdown in force at a unit from its own key's and the fleet's values: its own, else the fleet's. */
function lockdownIn(own: string | null, fleet: string | null): Lockdown | null {
  const raw = own ?? fleet;
  return raw ? (JSON.parse(raw) as Lockdown) : null;
}
