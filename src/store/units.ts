import type { Redis } from 'ioredis';
import type {
  CompartmentState,
  FaultKind,
  KeypadState,
  Snapshot,
  UnitEvent,
  UnitProfile,
  UnitState,
} from '../domain/model.js';
import { unitActor, type Actor, type EvidenceEntry } from '../evidence/entry.js';
import { EvidenceLog, HeadMoved, unitChain } from '../evidence/log.js';
import { keys, type Keys } from './keys.js';
import { APPLY_EVENT, BRIEFS, RECONCILE } from './lua.js';
import { nothing, readAll, readOne, type Read } from './reads.js';

/** How an incoming message is checked for duplicates, per dialect (see the vendor documents). */
export type Dedupe =
  | { mode: 'none' }
  /**
   * json-v1: per-unit seq grows by one and survives reboots: anything at or below the highest seen is a repeat.
   * With `jump`, a seq further ahead of the watermark than `jump.max` plus `jump.perSecond` for every second since
   * the watermark last moved is suspect: not applied, the watermark stays.
   */
  | { mode: 'seq'; seq: number; jump?: { max: number; perSecond: number } }
  /** compact-v2: the last 64 message ids; a status with m = 1 after a reboot starts a new window */
  | { mode: 'window'; msgId: number; reset?: boolean };

export type ApplyOutcome =
  | { status: 'ok'; streamId: string }
  | { status: 'dup' }
  | { status: 'same' }
  /** json-v1: an impossible jump of seq; `lastSeq` is the watermark that stayed */
  | { status: 'suspect'; lastSeq: number };

/** A unit in brief (UnitStore.briefs). */
export interface UnitBrief {
  id: string;
  online: boolean;
  since: number | null;
  anyDoorOpen: boolean;
}

/** An event on the parcel engine's input stream. */
export interface LoggedEvent {
  streamId: string;
  event: UnitEvent;
}

/** An entry of a unit's evidence chain, as listed for staff. */
export interface EvidenceRecord {
  streamId: string;
  n: number;
  hash: string;
  event: EvidenceEntry;
}

/** What units report (and what reconciliation infers) feeds the parcel engine; the rest is evidence only. */
const ENGINE_INPUT = new Set<UnitEvent['kind']>(['presence', 'door-opened', 'door-closed', 'code-entered', 'fault', 'alarm', 'boot']);

/** A unit event as an evidence entry: the same facts, with who did it and the parcel it concerns. */
export function unitEvidence(event: UnitEvent, actor: Actor): EvidenceEntry {
  const { unit, at, source, ...rest } = event;
  const entry: EvidenceEntry = { at, actor, unit, ...rest, source: source ?? {} };
  if ('parcelId' in rest) {
    entry.parcel = rest.parcelId;
    delete entry.parcelId;
  }
  return entry;
}

type RedisWithScripts = Redis & {
  lgApplyEvent(k1: string, k2: string, k3: string, k4: string, ...argv: string[]): Promise<string[]>;
  lgReconcile(k1: string, k2: string, k3: string, k4: string, ...argv: string[]): Promise<(string | number)[]>;
  lgBriefs(numKeys: number, ...keysThenArgv: string[]): Promise<(string | number)[]>;
};

function dedupeArgs(d: Dedupe): string[] {
  if (d.mode === 'seq') return d.jump ? ['seq', String(d.seq), String(d.jump.max), String(d.jump.perSecond)] : ['seq', String(d.seq)];
  if (d.mode === 'window') return [d.reset ? 'window-reset' : 'window', String(d.msgId)];
  return ['none', ''];
}

/**
 * Live state of units and compartments, and the append-only event log per unit (Redis Streams).
 * Every write goes through a Lua script: dedupe + state + log in one atomic step.
 */
export class UnitStore {
  readonly k: Keys;
  private readonly redis: RedisWithScripts;

  readonly evidence: EvidenceLog;
  /** the profiles by id (unitRead runs for every unit every sweep: no linear search) */
  private readonly byId: ReadonlyMap<string, UnitProfile>;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly profiles: readonly UnitProfile[],
    evidence?: EvidenceLog,
  ) {
    this.k = keys(prefix);
    this.byId = new Map(profiles.map((p) => [p.id, p]));
    this.evidence = evidence ?? new EvidenceLog(redis, prefix);
    if (!('lgApplyEvent' in redis)) {
      redis.defineCommand('lgApplyEvent', { numberOfKeys: 4, lua: APPLY_EVENT });
      redis.defineCommand('lgReconcile', { numberOfKeys: 4, lua: RECONCILE });
      redis.defineCommand('lgBriefs', { lua: BRIEFS });
    }
    this.redis = redis as RedisWithScripts;
  }

  private unitKeys(unit: string): [string, string, string, string] {
    return [this.k.unit(unit), this.k.compartments(unit), this.k.events(unit), this.k.dedupe(unit)];
  }

  /**
   * Dedupe, state change, the engine's input (for what units report) and the evidence entry, in one step.
   * `actor`: who caused it (default: the unit itself).
   */
  async apply(event: UnitEvent, dedupe: Dedupe = { mode: 'none' }, now = Date.now(), actor: Actor = unitActor(event.unit)): Promise<ApplyOutcome> {
    const payload = JSON.stringify(event);
    const input = ENGINE_INPUT.has(event.kind) ? '1' : '0';
    const [mode, value, ...jump] = dedupeArgs(dedupe);
    return this.evidence.within(unitChain(event.unit), [unitEvidence(event, actor)], async (spec) => {
      const res = await this.redis.lgApplyEvent(...this.unitKeys(event.unit), mode!, value!, payload, String(now), JSON.stringify(spec ?? {}), input, ...jump);
      const moved = HeadMoved.from(res);
      if (moved) return moved;
      if (res[0] === 'ok') return { result: { status: 'ok', streamId: String(res[1]) } as ApplyOutcome, appended: true };
      if (res[0] === 'suspect') return { result: { status: 'suspect', lastSeq: Number(res[1]) } as ApplyOutcome, appended: false };
      return { result: { status: res[0] === 'dup' ? 'dup' : 'same' } as ApplyOutcome, appended: false };
    });
  }

  /** Compare a full reading with stored state; returns the events it inferred (already logged), or null if a duplicate. */
  async reconcile(snap: Snapshot, dedupe: Dedupe = { mode: 'none' }, now = Date.now()): Promise<LoggedEvent[] | null> {
    const chain = unitChain(snap.unit);
    const ev = JSON.stringify({ s: this.k.evidence(chain), hk: this.k.evidenceHead(chain), cx: this.k.evCompartment(snap.unit, 0).slice(0, -1) });
    const [mode, value] = dedupeArgs(dedupe);
    const res = await this.evidence.hashedInLua(chain, () =>
      this.redis.lgReconcile(
        ...this.unitKeys(snap.unit),
        mode!,
        value!,
        JSON.stringify({ unit: snap.unit, at: snap.at, seq: snap.source.seq ?? null, firmware: snap.firmware ?? null, compartments: snap.compartments }),
        String(now),
        ev,
      ),
    );
    if (res[0] === 'dup') return null;
    const out: LoggedEvent[] = [];
    for (let i = 2; i + 1 < res.length; i += 2) {
      out.push({ streamId: String(res[i]), event: JSON.parse(String(res[i + 1])) as UnitEvent });
    }
    return out;
  }

  /** Any valid message from the unit: it is alive. */
  async touch(unit: string, now = Date.now(), fields: Record<string, string | number> = {}): Promise<void> {
    await this.redis.hset(this.k.unit(unit), { lastSeen: now, ...fields });
  }

  async lastSeen(unit: string): Promise<number | null> {
    const v = await this.redis.hget(this.k.unit(unit), 'lastSeen');
    return v ? Number(v) : null;
  }

  /** json-v1: the watermark and when it last moved (gateway clock, ms; null before the first, or in older data) */
  async seqWatermark(unit: string): Promise<{ seq: number; movedAt: number | null }> {
    const [seq, at] = await this.redis.hmget(this.k.unit(unit), 'lastSeq', 'lastSeqAt');
    return { seq: seq === null ? -1 : Number(seq), movedAt: at === null ? null : Number(at) };
  }

  /** json-v1: highest event seq applied (the dedupe watermark), -1 before the first */
  async lastSeq(unit: string): Promise<number> {
    const v = await this.redis.hget(this.k.unit(unit), 'lastSeq');
    return v === null ? -1 : Number(v);
  }

  async isOnline(unit: string): Promise<boolean> {
    return (await this.redis.hget(this.k.unit(unit), 'online')) === '1';
  }

  async unit(id: string): Promise<UnitState | null> {
    // one round trip (a pipeline), not two; none for a unit this gateway does not know
    return readOne(this.redis, this.unitRead(id));
  }

  /** unit(), as a read that can share a pipeline (reads.ts): null for a unit this gateway does not know. */
  unitRead(id: string): Read<UnitState | null> {
    const profile = this.byId.get(id);
    if (!profile) return nothing(null);
    return {
      n: 2,
      add: (pipe) => pipe.hgetall(this.k.unit(id)).hgetall(this.k.compartments(id)),
      decode: ([u, c]) => toUnitState(profile, u as Record<string, string>, c as Record<string, string>),
    };
  }

  /**
   * Whether each unit is online and its keypad state (as unit() reads them), in one round trip and without the
   * compartments: for checks that run over every unit every second. null for a unit this gateway does not know.
   */
  onlineAndKeypad(ids: readonly string[]): Promise<({ online: boolean; keypad: KeypadState } | null)[]> {
    return readAll(
      this.redis,
      ids.map((id): Read<{ online: boolean; keypad: KeypadState } | null> =>
        this.byId.has(id)
          ? {
              n: 1,
              add: (pipe) => pipe.hmget(this.k.unit(id), 'online', 'keypad'),
              decode: ([v]) => {
                const [online, keypad] = (v ?? []) as (string | null)[];
                return { online: online === '1', keypad: (keypad as KeypadState | null) ?? 'enabled' };
              },
            }
          : nothing(null),
      ),
    );
  }

  /**
   * Every unit in brief, in the profiles' order: online, since, and whether any of its doors is open (as units()
   * reads them), without the rest of the compartments' state: for checks over every unit every few seconds (1,000
   * units' full state each time is megabytes of garbage). Read what a check needs in full with unitRead.
   */
  async briefs(): Promise<UnitBrief[]> {
    // One script call, its arguments built once: a pipeline of two commands per unit was ~10 MB of garbage per
    // check with 1,000 units, much of it kept alive (and promoted) while the pipeline waited for its replies.
    this.briefArgs ??= [
      ...this.profiles.flatMap((p) => [this.k.unit(p.id), this.k.compartments(p.id)]),
      ...this.profiles.map((p) => p.compartments.map((c) => c.no).join(',')),
    ];
    if (!this.profiles.length) return [];
    const r = await this.redis.lgBriefs(2 * this.profiles.length, ...this.briefArgs);
    return this.profiles.map((p, i) => {
      const since = r[3 * i + 1];
      return { id: p.id, online: Number(r[3 * i]) === 1, since: since === '' || since == null ? null : Number(since), anyDoorOpen: Number(r[3 * i + 2]) === 1 };
    });
  }

  private briefArgs: string[] | undefined;

  async units(): Promise<UnitState[]> {
    const pipe = this.redis.pipeline();
    for (const p of this.profiles) {
      pipe.hgetall(this.k.unit(p.id));
      pipe.hgetall(this.k.compartments(p.id));
    }
    const res = (await pipe.exec()) ?? [];
    return this.profiles.map((p, i) =>
      toUnitState(p, (res[2 * i]?.[1] ?? {}) as Record<string, string>, (res[2 * i + 1]?.[1] ?? {}) as Record<string, string>),
    );
  }

  /** The unit's evidence chain, newest first. `before` is an exclusive stream id for paging. */
  async events(unit: string, opts: { limit?: number; before?: string } = {}): Promise<EvidenceRecord[]> {
    const end = opts.before ? `(${opts.before}` : '+';
    const rows = await this.redis.xrevrange(this.k.evidence(unitChain(unit)), end, '-', 'COUNT', opts.limit ?? 50);
    return rows.map(([streamId, fields]) => {
      const f = fieldMap(fields);
      return { streamId, n: Number(f.n), hash: f.h ?? '', event: JSON.parse(f.e ?? '{}') as EvidenceEntry };
    });
  }
}

export function fieldMap(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

function toUnitState(p: UnitProfile, u: Record<string, string>, c: Record<string, string>): UnitState {
  const num = (v: string | undefined) => (v === undefined ? null : Number(v));
  const compartments: CompartmentState[] = p.compartments.map(({ no, size }) => ({
    no,
    size,
    doorOpen: c[`${no}:door`] === '1',
    occupied: c[`${no}:occ`] === '1',
    fault: (c[`${no}:fault`] as FaultKind | undefined) ?? null,
    outOfService: c[`${no}:oos`] === '1',
    updatedAt: num(c[`${no}:at`]),
  }));
  return {
    id: p.id,
    site: p.site,
    siteName: p.siteName,
    dialect: p.dialect,
    online: u.online === '1',
    since: num(u.since),
    lastSeen: num(u.lastSeen),
    firmware: u.firmware ?? null,
    keypad: (u.keypad as KeypadState | undefined) ?? 'enabled',
    outOfService: u.oos === '1',
    rssi: num(u.rssi),
    compartments,
  };
}
