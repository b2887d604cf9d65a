import type { Redis } from 'ioredis';
import type { UnitEvent, UnitProfile } from '../domain/model.js';
import { presenceCode } from '../domain/presence.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { keys } from '../store/keys.js';
import type { UnitStore } from '../store/units.js';
import { ParcelError } from './errors.js';
import type { ParcelService } from './service.js';

const GROUP = 'parcels';
const RELEVANT = new Set<UnitEvent['kind']>(['door-opened', 'door-closed', 'code-entered']);

/**
 * Drives the parcel service from the units' event logs. It reads them through a Redis consumer group and
 * acknowledges an event only after handling it, so a crash replays what was not finished (the service's steps are
 * idempotent). Also runs the sweep (deposit windows, deadlines, keypad locks) and shows each unit's presence code.
 */
export class ParcelEngine {
  private running = false;
  private loop: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private sweeping = false;
  private readonly background = new Set<Promise<void>>();
  private readonly inFlight = new Set<string>();
  private readonly streams: string[];

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
      codeKey: Buffer;
      logger: Logger;
      counters: Counters;
      consumer: string;
      sweepMs: number;
      presenceCodes: boolean;
    },
  ) {
    const k = keys(d.prefix);
    this.streams = d.units.map((u) => k.events(u.id));
  }

  async start(): Promise<void> {
    for (const s of this.streams) {
      try {
        await this.d.blocking.xgroup('CREATE', s, GROUP, '$', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
    this.running = true;
    this.loop = this.run();
    const sweep = setInterval(() => void this.sweep(), this.d.sweepMs);
    this.timers.push(sweep);
    if (this.d.presenceCodes) {
      // The code changes on the minute: show it then, and at start.
      void this.showPresenceCodes();
      const first = setTimeout(() => {
        void this.showPresenceCodes();
        this.timers.push(setInterval(() => void this.showPresenceCodes(), 60_000));
      }, 60_000 - (Date.now() % 60_000) + 200);
      this.timers.push(first);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.loop;
    await Promise.all(this.background);
  }

  private async run(): Promise<void> {
    let backlog = true; // first drain what this consumer was given but never acknowledged (a crash)
    while (this.running) {
      try {
        const res = (await this.d.blocking.xreadgroup(
          'GROUP',
          GROUP,
          this.d.consumer,
          'COUNT',
          100,
          'BLOCK',
          backlog ? 1 : 1000,
          'STREAMS',
          ...this.streams,
          ...this.streams.map(() => (backlog ? '0' : '>')),
        )) as [string, [string, string[]][]][] | null;
        let got = 0;
        for (const [stream, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            // Still being handled in the background (a pickup waiting for its door): not new work.
            if (this.inFlight.has(`${stream} ${id}`)) continue;
            got++;
            await this.handle(stream, id, fields);
          }
        }
        if (backlog && got === 0) backlog = false;
      } catch (err) {
        if (!this.running) break;
        this.d.logger.error('parcel engine: reading events failed; retrying', { err });
        backlog = true;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async handle(stream: string, id: string, fields: string[]): Promise<void> {
    let event: UnitEvent | null = null;
    try {
      event = JSON.parse(fields[1] ?? 'null') as UnitEvent;
    } catch {
      this.d.logger.error('unreadable event log entry', { stream, id });
    }
    if (event?.kind === 'presence' && event.online && this.d.presenceCodes) {
      // A unit that comes (back) online shows its presence code at once, not at the next minute.
      void this.showPresenceCode(event.unit);
    }
    if (event && RELEVANT.has(event.kind)) {
      const e = event;
      const run = async () => {
        try {
          await this.d.service.onUnitEvent({ streamId: id, event: e });
        } catch (err) {
          if (!(err instanceof ParcelError)) throw err; // not acknowledged: handled again after the retry
          this.d.logger.info('event refused by the parcel service', { unit: e.unit, kind: e.kind, code: err.code, msg: err.message });
        }
        await this.d.redis.xack(stream, GROUP, id);
      };
      if (e.kind === 'code-entered') {
        // A pickup waits for its door to open (seconds, at worst a timeout): it must not hold up the door events
        // of every unit behind it. It is acknowledged when done; after a crash it is handled again, and its
        // command id (from the event id) keeps the door from opening twice.
        const key = `${stream} ${id}`;
        this.inFlight.add(key);
        const p: Promise<void> = run()
          .catch((err: unknown) => this.d.logger.error('keypad code handling failed; it will be retried', { err }))
          .finally(() => {
            this.background.delete(p);
            this.inFlight.delete(key);
          });
        this.background.add(p);
        return;
      }
      await run();
      return;
    }
    await this.d.redis.xack(stream, GROUP, id);
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
    for (const u of this.d.units) {
      const state = await this.d.unitStore.unit(u.id).catch(() => null);
      if (state?.online) void this.showPresenceCode(u.id);
    }
  }

  private async showPresenceCode(unit: string): Promise<void> {
    const code = presenceCode(this.d.codeKey, unit, Date.now());
    await this.d.service.display(unit, `现场码 ${code}`, `Presence code ${code}`, 65);
  }
}
