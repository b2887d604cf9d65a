/**
 * Incoming unit messages, one queue per unit. Each unit's messages are handled one at a time and in order, and the
 * units take turns: a flood from one unit (20,000 messages held another unit's reply back 2.35 s when all units
 * shared one line) only fills that unit's queue. A QoS 1 message is acknowledged (PUBACK) only once its unit's
 * driver has handled it, i.e. stored it; the broker keeps it in the persistent session until then.
 *
 * Acknowledgements therefore leave in each unit's order, not in the order the messages arrived across units. Brokers
 * match a PUBACK by packet id (Mosquitto and aedes both do); MQTT's ordering guarantee is per topic and publisher,
 * which the per-unit order keeps.
 *
 * Memory: a unit's queue holds at most `maxBytes` (payloads plus an estimate of the bookkeeping); beyond that the
 * intake says so and the caller stops reading from the broker until that unit's queue is half empty again (TCP
 * holds the rest back: with one unit flooding, the others then wait too, but memory stays bounded).
 */
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { Driver } from './driver.js';

/** What a queued message costs beyond its payload and topic (objects, closures, queue slot): a rough bound. */
const OVERHEAD_BYTES = 256;

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** send the PUBACK (no-op for QoS 0, or when the connection it came on is gone) */
  ack(): void;
  /** the connection it came on; a message from an older connection will be delivered again */
  generation: number;
}

export interface IntakeDeps {
  logger: Logger;
  counters: Counters;
  maxBytes: number;
  /**
   * A QoS 1 message could not be handled. Return true to acknowledge and drop it (poison), false to have it
   * delivered again: the intake then drops what is queued behind it for that unit (the broker delivers those again
   * too, in order) and the caller reconnects.
   */
  failed(msg: IncomingMessage, err: unknown): boolean;
  /** a message was handled (to forget earlier failures of the same message) */
  handled?(msg: IncomingMessage): void;
}

interface UnitQueue {
  driver: Driver;
  items: IncomingMessage[];
  bytes: number;
  running: boolean;
}

export class UnitIntake {
  private readonly queues = new Map<Driver, UnitQueue>();
  private readonly idle = new Set<() => void>();
  /** the broker connection's read is held until this unit's queue is half empty */
  private held: { queue: UnitQueue; resume: () => void } | null = null;
  private stopped = false;
  /** queues being worked through right now (not counted by spreading every unit's queue after each message) */
  private busyQueues = 0;

  constructor(private readonly d: IntakeDeps) {}

  /** Queue a message for its unit. `resume` is called once the caller may read the next message from the broker. */
  push(driver: Driver, msg: IncomingMessage, resume: () => void): void {
    if (this.stopped) return resume();
    let q = this.queues.get(driver);
    if (!q) {
      q = { driver, items: [], bytes: 0, running: false };
      this.queues.set(driver, q);
    }
    q.items.push(msg);
    q.bytes += size(msg);
    driver.arrived?.(msg.topic);
    if (!q.running) void this.run(q);
    if (q.bytes > this.d.maxBytes) {
      this.d.counters.inc('lg_unit_queue_full_total', { unit: driver.unit.id });
      this.d.logger.warn('unit queue full: reading from the broker paused', { unit: driver.unit.id, bytes: q.bytes, queued: q.items.length });
      this.held = { queue: q, resume };
      return;
    }
    resume();
  }

  /** The connection went away: QoS 1 messages not yet handled will be delivered again; forget them. */
  connectionLost(generation: number): void {
    for (const q of this.queues.values()) this.dropQos1(q, (m) => m.generation <= generation, q.running);
    this.release();
  }

  /** Messages queued, over all units (for tests and metrics). */
  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.items.length;
    return n;
  }

  /** Stop taking messages; resolves when the messages being handled are done (the rest are delivered again). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const q of this.queues.values()) this.dropQos1(q, () => true, q.running);
    this.release();
    if (this.busyQueues > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  private async run(q: UnitQueue): Promise<void> {
    q.running = true;
    this.busyQueues++;
    while (q.items.length) {
      const msg = q.items[0]!;
      let ack = true;
      try {
        await q.driver.handle(msg.topic, msg.payload);
        this.d.counters.inc('lg_unit_messages_total', { unit: q.driver.unit.id });
        this.d.handled?.(msg);
      } catch (err) {
        ack = msg.qos === 0 || this.d.failed(msg, err);
      }
      if (q.items[0] === msg) {
        q.items.shift();
        q.bytes -= size(msg);
      }
      if (ack) msg.ack();
      // Not acknowledged: delivered again, and so is everything queued behind it; handling those first would break
      // the unit's order.
      else this.dropQos1(q, () => true, false);
      if (this.held?.queue === q && q.bytes <= this.d.maxBytes / 2) this.release();
    }
    q.running = false;
    if (--this.busyQueues === 0) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
  }

  /** `headUnderWay`: the first message is being handled right now and stays (its handler shifts it). */
  private dropQos1(q: UnitQueue, which: (m: IncomingMessage) => boolean, headUnderWay: boolean): void {
    const keep: IncomingMessage[] = [];
    q.items.forEach((m, i) => {
      if ((i === 0 && headUnderWay) || m.qos === 0 || !which(m)) keep.push(m);
    });
    q.items = keep;
    q.bytes = keep.reduce((n, m) => n + size(m), 0);
  }

  private release(): void {
    const held = this.held;
    this.held = null;
    held?.resume();
  }
}

function size(m: IncomingMessage): number {
  return m.payload.length + m.topic.length + OVERHEAD_BYTES;
}
