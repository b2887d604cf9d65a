import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { systemActor, type Actor, type EvidenceEntry } from '../evidence/entry.js';
import { EVIDENCE_LUA } from '../evidence/lua.js';
import { HeadMoved, OFFICE_CHAIN, unitChain, type EvidenceLog } from '../evidence/log.js';
import type { Notice } from '../notify/types.js';
import { keys, type Keys } from '../store/keys.js';
import { ALERT_KINDS, type Alert, type AlertDraft, type AlertKind } from './types.js';

/** How long an occurrence is remembered as raised (an occurrence older than this is not reported again anyway). */
const SEEN_TTL_S = 30 * 86_400;
/** Alerts kept for the console's list (open ones are never dropped). */
const KEEP = 1000;

/**
 * Raise: in one Lua step, unless this occurrence was seen before (nothing) or an alert about the same subject is
 * open (folded into it: `repeats` + 1), write the alert, its indexes, its notices to the outbox and its evidence
 * entry. Several gateway processes may raise the same occurrence at once: exactly one writes it.
 */
const RAISE = `${EVIDENCE_LUA}
local a = cjson.decode(ARGV[1])
local moved = ev_check(a.ev)
if moved then return moved end
if redis.call('EXISTS', a.seen) == 1 then return {'dup'} end
local open = redis.call('HGET', a.subjects, a.subject)
if open then
  redis.call('SET', a.seen, open, 'EX', a.ttl)
  redis.call('HINCRBY', a.prefix .. open, 'repeats', 1)
  return {'folded', open}
end
redis.call('HSET', a.prefix .. a.id, 'j', a.json, 'repeats', 0)
redis.call('ZADD', a.open, a.at, a.id)
redis.call('ZADD', a.all, a.at, a.id)
redis.call('HSET', a.subjects, a.subject, a.id)
redis.call('SET', a.seen, a.id, 'EX', a.ttl)
for _, n in ipairs(a.notices) do redis.call('XADD', a.outbox, '*', 'type', 'notice', 'notice', n) end
local extra = redis.call('ZCARD', a.all) - a.keep
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', a.all, 0, extra - 1)) do
    if not redis.call('ZSCORE', a.open, old) then
      redis.call('ZREM', a.all, old)
      redis.call('DEL', a.prefix .. old)
    end
  end
end
ev_write(a.ev)
return {'ok', a.id}
`;

/** Acknowledge: once, by a named member, with its evidence entry, in one step. */
const ACK = `${EVIDENCE_LUA}
local a = cjson.decode(ARGV[1])
local moved = ev_check(a.ev)
if moved then return moved end
local key = a.prefix .. a.id
if redis.call('EXISTS', key) == 0 then return {'none'} end
if redis.call('HEXISTS', key, 'ackedAt') == 1 then return {'already'} end
redis.call('HSET', key, 'ackedAt', a.at, 'ackedBy', a.by)
redis.call('ZREM', a.open, a.id)
if redis.call('HGET', a.subjects, a.subject) == a.id then redis.call('HDEL', a.subjects, a.subject) end
ev_write(a.ev)
return {'ok'}
`;

/**
 * Clear: the alert's condition ended. Only an alert still open (neither acknowledged nor cleared, and the open one of
 * its subject) is cleared: it leaves the open list and frees its subject, once, with its evidence entry.
 */
const CLEAR = `${EVIDENCE_LUA}
local a = cjson.decode(ARGV[1])
local moved = ev_check(a.ev)
if moved then return moved end
local key = a.prefix .. a.id
if redis.call('EXISTS', key) == 0 then return {'none'} end
if redis.call('HEXISTS', key, 'ackedAt') == 1 or redis.call('HEXISTS', key, 'clearedAt') == 1 then return {'already'} end
if redis.call('HGET', a.subjects, a.subject) ~= a.id then return {'already'} end
redis.call('HSET', key, 'clearedAt', a.at, 'clearReason', a.reason)
redis.call('ZREM', a.open, a.id)
redis.call('HDEL', a.subjects, a.subject)
ev_write(a.ev)
return {'ok'}
`;

type WithScripts = Redis & {
  lgAlertRaise(spec: string): Promise<string[]>;
  lgAlertAck(spec: string): Promise<string[]>;
  lgAlertClear(spec: string): Promise<string[]>;
};

export const alertId = (key: string) => `a_${createHash('sha256').update(key).digest('hex').slice(0, 20)}`;

export type RaiseResult = { status: 'raised' | 'folded'; id: string } | { status: 'dup' };
export type AckResult = 'ok' | 'already' | 'none';

/** Alerts in Redis; every change written with its evidence entry (evidence/log.ts: the one append path). */
export class AlertStore {
  private readonly k: Keys;
  private readonly redis: WithScripts;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly log: EvidenceLog,
  ) {
    this.k = keys(prefix);
    if (!('lgAlertRaise' in redis)) {
      redis.defineCommand('lgAlertRaise', { numberOfKeys: 0, lua: RAISE });
      redis.defineCommand('lgAlertAck', { numberOfKeys: 0, lua: ACK });
      redis.defineCommand('lgAlertClear', { numberOfKeys: 0, lua: CLEAR });
    }
    this.redis = redis as WithScripts;
  }

  private chainOf(a: Pick<AlertDraft, 'unit'>): string {
    return a.unit ? unitChain(a.unit) : OFFICE_CHAIN;
  }

  private common() {
    return { prefix: this.k.alert(''), open: this.k.alertsOpen, all: this.k.alertsAll, subjects: this.k.alertSubjects };
  }

  async raise(draft: AlertDraft, notices: Notice[], now: number): Promise<RaiseResult> {
    const id = alertId(draft.key);
    const { notified: _n, ...rest } = draft;
    const alert: Alert = { ...rest, id, raisedAt: now, ackedAt: null, ackedBy: null, repeats: 0, clearedAt: null, clearReason: null };
    const entry: EvidenceEntry = {
      at: now,
      kind: 'alert',
      actor: systemActor('alerts'),
      ...(draft.unit ? { unit: draft.unit } : {}),
      ...(draft.compartment !== undefined ? { compartment: draft.compartment } : {}),
      // a parcel's index lists entries of its unit's chain only
      ...(draft.parcel && draft.unit ? { parcel: draft.parcel } : {}),
      ...(draft.claim ? { claim: draft.claim } : {}),
      alert: id,
      alertKind: draft.kind,
      key: draft.key,
      notices: notices.map((n) => n.id),
    };
    return this.log.within(this.chainOf(draft), [entry], async (ev) => {
      const res = await this.redis.lgAlertRaise(
        JSON.stringify({
          ...this.common(),
          ev,
          id,
          at: now,
          json: JSON.stringify(alert),
          subject: draft.subject,
          seen: this.k.alertSeen(draft.key),
          ttl: SEEN_TTL_S,
          keep: KEEP,
          outbox: this.k.outbox,
          notices: notices.map((n) => JSON.stringify(n)),
        }),
      );
      const moved = HeadMoved.from(res);
      if (moved) return moved;
      if (res[0] === 'ok') return { result: { status: 'raised', id } as RaiseResult, appended: true };
      if (res[0] === 'folded') return { result: { status: 'folded', id: String(res[1]) } as RaiseResult, appended: false };
      return { result: { status: 'dup' } as RaiseResult, appended: false };
    });
  }

  async ack(id: string, actor: Extract<Actor, { type: 'staff' }>, now: number, note?: string): Promise<AckResult> {
    const alert = await this.get(id);
    if (!alert) return 'none';
    if (alert.ackedAt !== null) return 'already';
    const entry: EvidenceEntry = {
      at: now,
      kind: 'alert-ack',
      actor,
      ...(alert.unit ? { unit: alert.unit } : {}),
      ...(alert.compartment !== undefined ? { compartment: alert.compartment } : {}),
      ...(alert.parcel && alert.unit ? { parcel: alert.parcel } : {}),
      ...(alert.claim ? { claim: alert.claim } : {}),
      alert: id,
      alertKind: alert.kind,
      ...(note ? { note } : {}),
    };
    return this.log.within(this.chainOf(alert), [entry], async (ev) => {
      const res = await this.redis.lgAlertAck(
        JSON.stringify({ ...this.common(), ev, id, at: now, by: JSON.stringify({ id: actor.id, name: actor.name ?? actor.id }), subject: alert.subject }),
      );
      const moved = HeadMoved.from(res);
      if (moved) return moved;
      const r = res[0] as AckResult;
      return { result: r, appended: r === 'ok' };
    });
  }

  /** The alert's condition has ended (`reason`: what ended it). 'already': acknowledged or cleared before. */
  async clear(id: string, reason: string, now: number): Promise<AckResult> {
    const alert = await this.get(id);
    if (!alert) return 'none';
    if (alert.ackedAt !== null || alert.clearedAt !== null) return 'already';
    const entry: EvidenceEntry = {
      at: now,
      kind: 'alert-clear',
      actor: systemActor('alerts'),
      ...(alert.unit ? { unit: alert.unit } : {}),
      ...(alert.compartment !== undefined ? { compartment: alert.compartment } : {}),
      ...(alert.parcel && alert.unit ? { parcel: alert.parcel } : {}),
      ...(alert.claim ? { claim: alert.claim } : {}),
      alert: id,
      alertKind: alert.kind,
      reason,
    };
    return this.log.within(this.chainOf(alert), [entry], async (ev) => {
      const res = await this.redis.lgAlertClear(JSON.stringify({ ...this.common(), ev, id, at: now, reason, subject: alert.subject }));
      const moved = HeadMoved.from(res);
      if (moved) return moved;
      const r = res[0] as AckResult;
      return { result: r, appended: r === 'ok' };
    });
  }

  /**
   * Open alerts of these subjects, and of every subject that starts with `prefix` (the subjects index holds one open
   * alert per subject). Reads only those fields (HMGET; HSCAN MATCH for a prefix), not the whole index.
   */
  async openBySubject(which: { subjects: readonly string[]; prefix?: string | undefined }): Promise<string[]> {
    const ids: string[] = [];
    if (which.subjects.length) {
      for (const id of await this.redis.hmget(this.k.alertSubjects, ...which.subjects)) if (id !== null && !ids.includes(id)) ids.push(id);
    }
    if (which.prefix !== undefined) {
      const pattern = `${which.prefix.replace(/[\\*?[\]]/g, '\\$&')}*`;
      let cursor = '0';
      do {
        const [next, flat] = await this.redis.hscan(this.k.alertSubjects, cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const id = flat[i + 1]!;
          // the match is checked here too: HSCAN may return a field twice, and MATCH is a glob
          if (flat[i]!.startsWith(which.prefix) && !ids.includes(id)) ids.push(id);
        }
      } while (cursor !== '0');
    }
    return ids;
  }

  async get(id: string): Promise<Alert | null> {
    if (!/^a_[0-9a-f]{20}$/.test(id)) return null;
    const h = await this.redis.hgetall(this.k.alert(id));
    return h.j ? toAlert(h) : null;
  }

  /** Open alerts, newest first. */
  async open(limit = 200): Promise<Alert[]> {
    return this.load(await this.redis.zrevrange(this.k.alertsOpen, 0, limit - 1));
  }

  async openCount(): Promise<number> {
    return this.redis.zcard(this.k.alertsOpen);
  }

  /** All kept alerts (open and acknowledged), newest first. */
  async recent(limit = 100): Promise<Alert[]> {
    return this.load(await this.redis.zrevrange(this.k.alertsAll, 0, limit - 1));
  }

  private async load(ids: string[]): Promise<Alert[]> {
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.k.alert(id));
    const rows = (await pipe.exec()) ?? [];
    return rows.map(([, h]) => h as Record<string, string>).filter((h) => h?.j).map(toAlert);
  }
}

function toAlert(h: Record<string, string>): Alert {
  const a = JSON.parse(h.j!) as Alert;
  return {
    ...a,
    repeats: Number(h.repeats ?? 0),
    ackedAt: h.ackedAt ? Number(h.ackedAt) : null,
    ackedBy: h.ackedBy ? (JSON.parse(h.ackedBy) as Alert['ackedBy']) : null,
    clearedAt: h.clearedAt ? Number(h.clearedAt) : null,
    clearReason: h.clearReason ?? null,
  };
}

/** Open alerts by kind, every kind listed (0 when none): for the `lg_alerts_open` gauge. */
export async function openAlertsByKind(redis: Redis, prefix: string): Promise<Map<AlertKind, number>> {
  const k = keys(prefix);
  const n = new Map<AlertKind, number>(ALERT_KINDS.map((kind) => [kind, 0]));
  const ids = await redis.zrange(k.alertsOpen, 0, -1);
  if (!ids.length) return n;
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(k.alert(id), 'j');
  for (const [, j] of (await pipe.exec()) ?? []) {
    if (typeof j !== 'string') continue;
    const kind = (JSON.parse(j) as Alert).kind;
    if (n.has(kind)) n.set(kind, n.get(kind)! + 1);
  }
  return n;
}
