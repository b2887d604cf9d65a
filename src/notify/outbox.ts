import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { InvalidNoticeError } from './errors.js';
import type { Notifier } from './notifier.js';
import type { Notice } from './types.js';
import { cancelIdsSchema, outboxEntrySchema } from './types.js';

/**
 * Outbox relay: parcel state transitions (Lua, atomic with the state change) XADD entries to
 * `${keyPrefix}outbox`; this loop turns them into notifier.enqueue / notifier.cancel calls.
 *
 * Entry fields: `type=notice` + `notice=<JSON Notice>`, or `type=cancel` + `ids=<JSON array of notice ids>`.
 *
 * At-least-once with idempotent effects: an entry is XACKed only after enqueue/cancel returned, so a crash in
 * between leaves it in this consumer's pending list (PEL), which is re-processed first on the next start (and
 * after any error). The running loop sends a batch's acks with its next read (one round trip for both), and acks
 * what is left when it stops. Re-processing only re-adds the same deterministic job ids, which BullMQ ignores, and the
 * worker's sent keys stop a second send: replays cost nothing. Entries of the PEL are replayed in stream order,
 * so a `notice` followed by its `cancel` still ends cancelled.
 *
 * Malformed entries (unknown type, bad JSON, notice failing the schema or missing a template parameter) can
 * never succeed: they are logged, counted and acked, and the loop goes on. Any other error (Redis down) leaves
 * the entry pending and is retried after a pause.
 *
 * Acked entries are deleted (XDEL): a notice carries the resident's phone and pickup code, which should not
 * linger in Redis once the job exists (pass deleteAcked: false to keep them, e.g. when another group reads
 * the stream).
 *
 * The consumer name must be stable across restarts for the PEL replay (default `relay-1`), and one consumer
 * should run per group. Entries are not taken over from live consumers (XAUTOCLAIM): a stale `notice` claimed
 * after its `cancel` was handled elsewhere would bring a cancelled reminder back. With several gateways
 * (`claimDeadAfterMs`), the pending entries of a consumer silent for that long (a dead gateway) are taken over whole.
 */
export interface OutboxRelayDeps {
  redis: Redis;
  keyPrefix: string;
  notifier: Pick<Notifier, 'enqueue' | 'cancel'> & Partial<Pick<Notifier, 'enqueueMany'>>;
  logger: Logger;
  group?: string;
  consumer?: string;
  counters?: Counters;
  deleteAcked?: boolean;
  /** how long one XREADGROUP blocks; stop() interrupts it */
  blockMs?: number;
  batch?: number;
  /**
   * several gateways: another consumer of the group silent for this long is dead, and its pending entries are
   * taken over (in stream order) and handled here. Unset: never (one relay per group, the default).
   */
  claimDeadAfterMs?: number;
}

type StreamEntry = [id: string, fields: string[] | null];

export class OutboxRelay {
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly stats = { processed: 0, malformed: 0, errors: 0 };
  private readonly redis: Redis;
  private readonly notifier: Pick<Notifier, 'enqueue' | 'cancel'> & Partial<Pick<Notifier, 'enqueueMany'>>;
  private readonly logger: Logger;
  private readonly counters: Counters | undefined;
  private readonly deleteAcked: boolean;
  private readonly blockMs: number;
  private readonly batch: number;
  private blocking: Redis | null = null;
  private loop: Promise<void> | null = null;
  private running = false;
  private groupReady = false;
  private wake: (() => void) | null = null;
  private readonly claimDeadAfterMs: number | null;
  private lastDeadCheck = 0;
  /** handled entries of the blocking loop, acked with its next read (see read) or by flushAcks */
  private unacked: string[] = [];

  constructor(deps: OutboxRelayDeps) {
    this.claimDeadAfterMs = deps.claimDeadAfterMs ?? null;
    this.redis = deps.redis;
    this.stream = `${deps.keyPrefix}outbox`;
    this.group = deps.group ?? 'notify';
    this.consumer = deps.consumer ?? 'relay-1';
    this.notifier = deps.notifier;
    this.logger = deps.logger.child({ component: 'outbox', stream: this.stream });
    this.counters = deps.counters;
    this.deleteAcked = deps.deleteAcked ?? true;
    this.blockMs = deps.blockMs ?? 1000;
    this.batch = deps.batch ?? 100;
  }

  start(): void {
    if (this.loop) return;
    this.running = true;
    this.blocking = this.redis.duplicate();
    this.blocking.on('error', (err: Error) => this.logger.warn('outbox blocking connection error', { err }));
    this.loop = this.run().finally(() => {
      this.loop = null;
    });
  }

  /** Stops reading. An entry being handled is finished and acked; a blocked read is cut short. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    // Disconnecting interrupts the blocking XREADGROUP at once. Entries Redis handed out in that instant stay
    // in our PEL and are replayed on the next start.
    this.blocking?.disconnect();
    await this.loop;
    this.blocking = null;
  }

  /**
   * One pass without blocking: this consumer's pending entries, then everything new. Returns how many entries
   * were handled (malformed ones included). For tests and tools; do not run it alongside start().
   */
  async drainOnce(): Promise<number> {
    await this.ensureGroup();
    let n = await this.replayPending();
    for (;;) {
      const entries = await this.read(this.redis, '>', false);
      if (entries.length === 0) return n;
      n += await this.handleAll(entries);
    }
  }

  private async run(): Promise<void> {
    let replay = true;
    while (this.running) {
      try {
        await this.ensureGroup();
        if (this.claimDeadAfterMs !== null && Date.now() - this.lastDeadCheck > this.claimDeadAfterMs / 4) {
          this.lastDeadCheck = Date.now();
          if ((await this.claimFromDead(this.claimDeadAfterMs)) > 0) replay = true;
        }
        if (replay) {
          await this.replayPending();
          replay = false;
        }
        if (!this.running) break;
        const entries = await this.read(this.blocking ?? this.redis, '>', true);
        await this.handleAll(entries, true);
      } catch (err) {
        if (!this.running) break;
        // The stream (and so the group) was deleted under us: create them again on the next pass.
        if (String((err as Error).message).includes('NOGROUP')) this.groupReady = false;
        this.stats.errors++;
        this.logger.error('outbox relay error, retrying', { err });
        replay = true;
        await this.pause(1000);
      }
    }
    // what was handled is acked before stop() returns (again, if the last read's pipeline took it already: harmless)
    await this.flushAcks().catch((err: unknown) => this.logger.warn('outbox ack at stop failed (the entries will be replayed)', { err }));
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await this.redis.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
    this.groupReady = true;
  }

  /**
   * The pending entries of consumers silent for longer than `idleMs` (a gateway that died), moved to this consumer;
   * the next replay handles them in stream order. A cancel the dead relay had read is taken over with its notice,
   * so a claimed notice is followed by its cancel as before. Returns how many entries were taken over.
   */
  private async claimFromDead(idleMs: number): Promise<number> {
    const consumers = (await this.redis.xinfo('CONSUMERS', this.stream, this.group)) as unknown[][];
    let n = 0;
    for (const c of consumers) {
      const f: Record<string, unknown> = {};
      for (let i = 0; i + 1 < c.length; i += 2) f[String(c[i])] = c[i + 1];
      if (f.name === this.consumer || Number(f.pending) === 0 || Number(f.idle) < idleMs) continue;
      const pending = (await this.redis.xpending(this.stream, this.group, '-', '+', 1000, String(f.name))) as [string, string, number, number][];
      if (!pending.length) continue;
      await this.redis.xclaim(this.stream, this.group, this.consumer, idleMs, ...pending.map(([id]) => id), 'JUSTID');
      this.logger.warn('outbox entries of a silent relay taken over', { from: f.name, entries: pending.length });
      n += pending.length;
    }
    return n;
  }

  /** Our own PEL from the start, page by page (ID 0 then after the last one seen). */
  private async replayPending(): Promise<number> {
    await this.flushAcks();
    let cursor = '0';
    let n = 0;
    for (;;) {
      const entries = await this.read(this.redis, cursor, false);
      if (entries.length === 0) return n;
      n += await this.handleAll(entries);
      cursor = entries[entries.length - 1]![0];
    }
  }

  /**
   * A blocking read first acks (and deletes) the entries the loop handled since the last one, in the same write:
   * XDEL, XACK, XREADGROUP in one pipeline (one round trip where an ack of its own was another). Deleted before
   * acked, so a connection lost in between leaves an emptied entry pending, which a replay acks, never an acked
   * one that still holds a phone number.
   */
  private async read(conn: Redis, id: string, block: boolean): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', this.group, this.consumer, 'COUNT', this.batch];
    if (block) args.push('BLOCK', this.blockMs);
    args.push('STREAMS', this.stream, id);
    const acks = block ? this.unacked : [];
    let res: [string, StreamEntry[]][] | null;
    if (acks.length === 0) res = (await conn.call('XREADGROUP', ...args)) as typeof res;
    else {
      const pipe = conn.pipeline();
      if (this.deleteAcked) pipe.xdel(this.stream, ...acks);
      pipe.xack(this.stream, this.group, ...acks);
      pipe.call('XREADGROUP', ...args);
      const replies = (await pipe.exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      this.unacked = this.unacked.slice(acks.length);
      res = replies[replies.length - 1]?.[1] as typeof res;
    }
    return res?.[0]?.[1] ?? [];
  }

  private async flushAcks(): Promise<void> {
    if (!this.unacked.length) return;
    const ids = this.unacked;
    await this.ack(ids);
    this.unacked = this.unacked.slice(ids.length);
  }

  /**
   * A batch in stream order. Consecutive notices are queued together (Notifier.enqueueMany: one addBulk per queue);
   * a cancel first waits for the notices before it, so a notice followed by its cancel still ends cancelled. The
   * entries handled are acked together (one XACK, one XDEL), also when a later one fails: that one and the rest
   * stay pending and are replayed in order. `deferAck` (the blocking loop): acked with the next read instead.
   */
  private async handleAll(entries: StreamEntry[], deferAck = false): Promise<number> {
    const done: string[] = [];
    let notices: { id: string; notice: Notice }[] = [];
    const flush = async () => {
      if (!notices.length) return;
      const batch = notices;
      notices = [];
      const errors = await this.enqueueMany(batch.map((n) => n.notice));
      for (const [i, n] of batch.entries()) {
        const err = errors[i];
        if (err) this.malformed(n.id, err.message);
        done.push(n.id);
      }
    };
    try {
      for (const [id, fields] of entries) {
        const item = this.parse(id, fields);
        if (item.type === 'notice') {
          notices.push({ id, notice: item.notice });
          continue;
        }
        await flush();
        if (item.type === 'cancel') await this.notifier.cancel(item.ids);
        done.push(id);
      }
      await flush();
    } finally {
      if (done.length) {
        if (deferAck) this.unacked.push(...done);
        else await this.ack(done);
        this.stats.processed += done.length;
      }
    }
    return entries.length;
  }

  private async enqueueMany(notices: Notice[]): Promise<(Error | null)[]> {
    if (this.notifier.enqueueMany) return this.notifier.enqueueMany(notices);
    const out: (Error | null)[] = [];
    for (const n of notices) {
      try {
        await this.notifier.enqueue(n);
        out.push(null);
      } catch (err) {
        if (!(err instanceof InvalidNoticeError)) throw err;
        out.push(err);
      }
    }
    return out;
  }

  private async ack(ids: string[]): Promise<void> {
    const tx = this.redis.multi().xack(this.stream, this.group, ...ids);
    if (this.deleteAcked) tx.xdel(this.stream, ...ids);
    await tx.exec();
  }

  /** What an entry asks for; a malformed one (logged and counted here) is done with at once. */
  private parse(id: string, fields: string[] | null): { type: 'notice'; notice: Notice } | { type: 'cancel'; ids: string[] } | { type: 'none' } {
    if (fields === null) return { type: 'none' }; // deleted from the stream after we read it: nothing left to do
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
    const entry = outboxEntrySchema.safeParse(map);
    if (!entry.success) {
      this.malformed(id, `unknown entry type ${JSON.stringify(map.type ?? null)} or missing field`);
      return { type: 'none' };
    }
    if (entry.data.type === 'notice') {
      try {
        return { type: 'notice', notice: JSON.parse(entry.data.notice) as Notice };
      } catch {
        this.malformed(id, 'notice is not JSON');
        return { type: 'none' };
      }
    }
    try {
      return { type: 'cancel', ids: cancelIdsSchema.parse(JSON.parse(entry.data.ids)) };
    } catch {
      this.malformed(id, 'ids is not a JSON array of notice ids');
      return { type: 'none' };
    }
  }

  private malformed(id: string, reason: string): void {
    this.stats.malformed++;
    this.counters?.inc('notify_outbox_malformed_total');
    // The reason only: the entry itself may hold a phone number and a pickup code.
    this.logger.warn('malformed outbox entry dropped', { entryId: id, reason });
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    }).finally(() => {
      this.wake = null;
    });
  }
}
