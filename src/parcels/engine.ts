import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { UnitEvent, UnitProfile } from '../domain/model.js';
import { systemActor } from '../evidence/entry.js';
import { unitChain } from '../evidence/log.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { keys, type Keys } from '../store/keys.js';
import type { UnitStore } from '../store/units.js';
import { ParcelError } from './errors.js';
import type { ParcelService } from './service.js';

export const ENGINE_GROUP = 'parcels';

export interface EngineOptions {
  /** tries of an entry that fails with an unexpected error before it goes to the dead-letter stream */
  maxAttempts: number;
  /** first back-off; doubled each try */
  backoffMs: number;
  /** read no more while this many entries are read and not yet acknowledged */
  maxOutstanding: number;
  /** acknowledgements are batched: sent when this many are ready, or after ackDelayMs */
  ackBatch: number;
  ackDelayMs: number;
  /** a dead consumer's pending entries older than this are claimed (another gateway died mid-work) */
  claimIdleMs: number;
}

export const DEFAULT_ENGINE: EngineOptions = { maxAttempts: 5, backoffMs: 200, maxOutstanding: 2000, ackBatch: 100, ackDelayMs: 20, claimIdleMs: 60_000 };

type Entry = { stream: string; id: string; fields: string[] };

/**
 * Drives the parcel service from the units' input streams (consumer group `parcels`).
 *
 * - Order is kept per compartment (one lane each); compartments, units and keypad codes proceed concurrently.
 * - An entry is acknowledged only once handled (batched). A crash leaves it pending; the next start handles it again
 *   (every step is idempotent), and a gateway that died is relieved of its pending entries by another.
 * - Three kinds of failure: refused by the rules (ParcelError): acknowledged and recorded; a Redis outage: retried
 *   until Redis is back, never counted; anything else: retried with back-off, then moved to the dead-letter stream,
 *   counted, logged, recorded in the evidence log and reported to staff, while every other lane carries on.
 *   A conflicting door step is re-planned until it applies (commit.ts), so a door event is never dropped.
 */
export class ParcelEngine {
  private running = false;
  private loop: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private sweeping = false;
  private readonly lanes = new Map<string, Promise<void>>();
  private readonly tasks = new Set<Promise<void>>();
  private outstanding = 0;
  private readonly acks = new Map<string, string[]>();
  private ackTimer: NodeJS.Timeout | null = null;
  private readonly allStreams: string[];
  /** entries read here and not yet acknowledged: a claim round must not hand them out again */
  private readonly seen = new Set<string>();
  private lastClaim = 0;
  private readonly k: Keys;
  private readonly opts: EngineOptions;

  constructor(
    private readonly d: {
      /** a connection of its own: XREADGROUP BLOCK holds it */
      blocking: Redis;
      /** the shared connection, for acknowledgements (not queued behind a blocking read) */
      redis: Redis;
      prefix: string;
      units: readonly UnitProfile[];
      service: ParcelService;
      unitStore: UnitStore;
      logger: Logger;
      counters: Counters;
      consumer: string;
      sweepMs: number;
      presenceCodes: boolean;
      clock: Clock;
      options?: Partial<EngineOptions>;
      /**
       * several gateways (src/scale/leases.ts): the units this gateway serves now. Only their input is read here
       * (their order kept by one reader), and a previous owner's unacknowledged entries are claimed within seconds.
       */
      owned?: () => readonly string[];
    },
  ) {
    this.k = keys(d.prefix);
    this.allStreams = d.units.map((u) => this.k.events(u.id));
    this.opts = { ...DEFAULT_ENGINE, ...d.options };
  }

  /** the input streams this engine reads: every unit's, or those of the units this gateway serves */
  private get streams(): string[] {
    const owned = this.d.owned?.();
    return owned ? owned.map((u) => this.k.events(u)) : this.allStreams;
  }

  async start(): Promise<void> {
    for (const s of this.allStreams) {
      try {
        await this.d.blocking.xgroup('CREATE', s, ENGINE_GROUP, '$', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
    this.running = true;
    this.loop = this.run();
    this.timers.push(setInterval(() => void this.sweep(), this.d.sweepMs));
    this.timers.push(setInterval(() => void this.housekeeping(), 60_000));
    if (this.d.presenceCodes) {
      // The code changes on the minute: show it then, and at start.
      void this.showPresenceCodes();
      const first = setTimeout(() => {
        void this.showPresenceCodes();
        this.timers.push(setInterval(() => void this.showPresenceCodes(), 60_000));
      }, 60_000 - (this.d.clock.now() % 60_000) + 200);
      this.timers.push(first);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.loop;
    await Promise.all(this.tasks);
    await this.flushAcks();
  }

  /** Entries read and not yet acknowledged here (for the metrics' engine lag). */
  get backlog(): number {
    return this.outstanding;
  }

  private async run(): Promise<void> {
    // First what this consumer was given but never acknowledged (a crash), then what a dead consumer left.
    await this.readUntilDone(async () => this.read('0', 1));
    await this.claimAbandoned().catch((err: unknown) => this.d.logger.warn('engine: claiming abandoned entries failed', { err }));
    while (this.running) {
      if (this.outstanding >= this.opts.maxOutstanding) {
        await Promise.race([...this.tasks, new Promise((r) => setTimeout(r, 50))]);
        continue;
      }
      try {
        if (this.d.owned && this.d.clock.now() - this.lastClaim > 2_000) {
          this.lastClaim = this.d.clock.now();
          await this.claimAbandoned(3_000);
        }
        await this.read('>', 1000);
      } catch (err) {
        if (!this.running) break;
        this.d.logger.error('parcel engine: reading events failed; retrying', { err });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async readUntilDone(fn: () => Promise<number>): Promise<void> {
    while (this.running) {
      try {
        if ((await fn()) === 0) return;
      } catch (err) {
        if (!this.running) return;
        this.d.logger.error('parcel engine: reading its backlog failed; retrying', { err });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Read one batch ('0': this consumer's pending entries after the last id seen; '>': new ones). */
  private lastPending = new Map<string, string>();
  private async read(from: '0' | '>', blockMs: number): Promise<number> {
    const streams = this.streams;
    if (!streams.length) {
      await new Promise((r) => setTimeout(r, Math.min(blockMs, 200)));
      return 0;
    }
    const ids = streams.map((s) => (from === '0' ? (this.lastPending.get(s) ?? '0') : '>'));
    const res = (await this.d.blocking.xreadgroup(
      'GROUP',
      ENGINE_GROUP,
      this.d.consumer,
      'COUNT',
      200,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...streams,
      ...ids,
    )) as [string, [string, string[] | null][]][] | null;
    let got = 0;
    for (const [stream, entries] of res ?? []) {
      for (const [id, fields] of entries) {
        got++;
        if (from === '0') this.lastPending.set(stream, id);
        this.dispatch({ stream, id, fields: fields ?? [] });
      }
    }
    return got;
  }

  private async claimAbandoned(idleMs = this.opts.claimIdleMs): Promise<void> {
    for (const stream of this.streams) {
      let cursor = '0-0';
      do {
        const [next, entries] = (await this.d.redis.xautoclaim(stream, ENGINE_GROUP, this.d.consumer, idleMs, cursor, 'COUNT', 100)) as [
          string,
          [string, string[] | null][],
        ];
        cursor = next;
        for (const [id, fields] of entries) if (!this.seen.has(`${stream}|${id}`)) this.dispatch({ stream, id, fields: fields ?? [] });
      } while (cursor !== '0-0' && this.running);
    }
  }

  /** Into its lane: a compartment's door events in order; each keypad code on its own (a pickup waits for its door). */
  private dispatch(entry: Entry): void {
    let event: UnitEvent | null = null;
    try {
      event = JSON.parse(entry.fields[1] ?? 'null') as UnitEvent;
    } catch {
      event = null;
    }
    this.outstanding++;
    this.seen.add(`${entry.stream}|${entry.id}`);
    const lane =
      event && (event.kind === 'door-opened' || event.kind === 'door-closed')
        ? `${event.unit}|${event.compartment}`
        : `${entry.stream}|${entry.id}`;
    const before = this.lanes.get(lane) ?? Promise.resolve();
    const task: Promise<void> = before
      .then(() => this.handle(entry, event))
      .finally(() => {
        this.outstanding--;
        this.tasks.delete(task);
        if (this.lanes.get(lane) === task) this.lanes.delete(lane);
      });
    this.lanes.set(lane, task);
    this.tasks.add(task);
  }

  private async handle(entry: Entry, event: UnitEvent | null): Promise<void> {
    if (entry.fields.length === 0) {
      // pending, but no longer in the stream (deleted by hand): nothing left to handle
      this.ack(entry);
      return;
    }
    if (!event || typeof event !== 'object' || typeof event.kind !== 'string') {
      await this.deadLetter(entry, event, new Error('unreadable entry'), 0);
      return;
    }
    if (event.kind === 'presence' && event.online && this.d.presenceCodes) {
      // A unit that comes (back) online shows its presence code at once, not at the next minute.
      void this.d.service.screen.presence(event.unit);
    }
    if (event.kind !== 'door-opened' && event.kind !== 'door-closed' && event.kind !== 'code-entered') {
      this.ack(entry);
      return;
    }
    for (let attempt = 1; ; ) {
      try {
        await this.d.service.onUnitEvent({ streamId: entry.id, event });
        break;
      } catch (err) {
        if (err instanceof ParcelError) {
          this.d.counters.inc('lg_engine_refused_total', { kind: event.kind, code: err.code });
          this.d.logger.info('event refused by the parcel service', { unit: event.unit, kind: event.kind, code: err.code, msg: err.message });
          break;
        }
        if (!this.running && attempt > 1) return; // left pending: the next start handles it
        if (this.d.redis.status !== 'ready') {
          // Redis is away: nothing is wrong with the entry. Wait for it without counting.
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (attempt >= this.opts.maxAttempts) {
          await this.deadLetter(entry, event, err, attempt);
          return;
        }
        this.d.counters.inc('lg_engine_retries_total', { kind: event.kind });
        this.d.logger.warn('engine: handling an event failed; retrying', { unit: event.unit, kind: event.kind, attempt, err });
        await new Promise((r) => setTimeout(r, this.opts.backoffMs * 2 ** (attempt - 1)));
        attempt++;
      }
    }
    this.ack(entry);
  }

  /** Set an entry aside for staff, record it, tell them once, and carry on. */
  private async deadLetter(entry: Entry, event: UnitEvent | null, err: unknown, attempts: number): Promise<void> {
    const unit = event?.unit ?? entry.stream.slice(this.k.events('').length);
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const what = event?.kind ?? 'unreadable entry';
    this.d.counters.inc('lg_engine_dead_letters_total', { unit });
    this.d.logger.error('engine: event moved to the dead-letter stream after repeated failures', { unit, stream: entry.stream, id: entry.id, what, attempts, err });
    const profile = this.d.units.find((u) => u.id === unit);
    for (;;) {
      try {
        await this.d.redis.xadd(this.k.deadLetter, '*', 'stream', entry.stream, 'id', entry.id, 'unit', unit, 'event', entry.fields[1] ?? '', 'error', error, 'attempts', attempts, 'at', this.d.clock.now());
        await this.d.unitStore.evidence.append(unitChain(unit), [
          { at: this.d.clock.now(), kind: 'dead-letter', actor: systemActor('engine'), unit, entry: entry.id, what, error, attempts, ...(event && 'compartment' in event ? { compartment: event.compartment } : {}) },
        ]);
        const notice = {
          id: `dead-letter.${unit}.${entry.id}`,
          kind: 'dead-letter',
          to: { lang: 'zh', webhook: 'property' },
          params: { unit, what, ...(profile ? { siteZh: profile.siteName.zh, siteEn: profile.siteName.en } : {}) },
        };
        await this.d.redis.xadd(this.k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice));
        break;
      } catch (e) {
        if (!this.running) return;
        this.d.logger.error('engine: could not write the dead letter; retrying', { err: e });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.ack(entry);
  }

  private ack(entry: Entry): void {
    const list = this.acks.get(entry.stream) ?? [];
    list.push(entry.id);
    this.acks.set(entry.stream, list);
    if (list.length >= this.opts.ackBatch) void this.flushAcks();
    else this.ackTimer ??= setTimeout(() => void this.flushAcks(), this.opts.ackDelayMs);
  }

  private async flushAcks(): Promise<void> {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    const batches = [...this.acks.entries()];
    this.acks.clear();
    for (const [stream, ids] of batches) {
      try {
        await this.d.redis.xack(stream, ENGINE_GROUP, ...ids);
        for (const id of ids) this.seen.delete(`${stream}|${id}`);
      } catch (err) {
        // Not acknowledged: handled again after a restart, which every step tolerates.
        this.d.logger.warn('engine: acknowledgement failed', { stream, n: ids.length, err });
      }
    }
  }

  /** Input entries every consumer has acknowledged are evidence elsewhere already: trim them. */
  async housekeeping(): Promise<void> {
    for (const stream of this.allStreams) {
      try {
        const pending = (await this.d.redis.xpending(stream, ENGINE_GROUP)) as [number, string | null, string | null, unknown];
        let upTo = pending[0] > 0 ? pending[1] : null;
        if (!upTo) {
          const groups = (await this.d.redis.xinfo('GROUPS', stream)) as unknown[][];
          for (const g of groups) {
            const f = Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]])) as Record<string, unknown>;
            if (f.name === ENGINE_GROUP) upTo = String(f['last-delivered-id']);
          }
          // everything up to and including the last delivered one is acknowledged: keep that one as the floor
        }
        if (upTo && upTo !== '0-0') await this.d.redis.xtrim(stream, 'MINID', upTo);
      } catch (err) {
        this.d.logger.warn('engine: trimming the input stream failed', { stream, err });
      }
    }
  }

  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.d.service.sweep();
    } catch (err) {
      this.d.logger.error('sweep failed', { err });
    } finally {
      this.sweeping = false;
    }
  }

  private async showPresenceCodes(): Promise<void> {
    // several gateways: each shows the codes of the units it serves (one screen text a minute per unit)
    for (const id of this.d.owned?.() ?? this.d.units.map((u) => u.id)) {
      const state = await this.d.unitStore.unit(id).catch(() => null);
      if (state?.online) void this.d.service.screen.presence(id);
    }
  }
}
