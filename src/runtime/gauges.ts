import type { Redis } from 'ioredis';
import { openAlertsByKind } from '../alerts/store.js';
import type { CompartmentState, UnitProfile } from '../domain/model.js';
import type { Counters } from '../metrics.js';
import { ENGINE_GROUP } from '../parcels/engine.js';
import { keys } from '../store/keys.js';
import type { ParcelStore } from '../store/parcels.js';
import { readAll } from '../store/reads.js';
import type { UnitStore } from '../store/units.js';

/** A BullMQ queue as far as the gauges need it. */
export interface CountedQueue {
  name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

export interface GaugeSources {
  redis: Redis;
  prefix: string;
  units: readonly UnitProfile[];
  store: UnitStore;
  parcels: ParcelStore;
  queues: () => CountedQueue[];
  /** notices waiting in the notifier's later-store (not in any queue yet: src/notify/later.ts) */
  later?: () => Promise<number>;
}

const JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'paused'];

export function compartmentState(c: CompartmentState): string {
  if (c.fault) return 'fault';
  if (c.outOfService) return 'out_of_service';
  if (c.doorOpen) return 'open';
  return c.occupied ? 'occupied' : 'empty';
}

/** Gauges read from Redis each time /metrics is scraped (nothing is kept in the process between scrapes). */
export function registerGauges(counters: Counters, s: GaugeSources): void {
  // A scrape collects every gauge at once: the ones that need the units' state (or the engine's groups) share one
  // read of them, not one each (with 1,000 units that is thousands of commands and megabytes of garbage per read).
  const units = shared(() => s.store.units());
  const groups = shared(() => engineGroups(s));
  counters.gauge('lg_unit_online', 'whether the unit is online (1) or not (0)', ['unit', 'dialect'], async () =>
    (await units()).map((u) => ({ labels: { unit: u.id, dialect: u.dialect }, value: u.online ? 1 : 0 })),
  );
  counters.gauge('lg_units_online', 'units online', [], async () => [{ value: (await units()).filter((u) => u.online).length }]);

  counters.gauge('lg_compartments', 'compartments by state (empty, occupied, open, fault, out_of_service)', ['unit', 'state'], async () => {
    const rows: { labels: Record<string, string>; value: number }[] = [];
    for (const u of await units()) {
      const n = new Map<string, number>(['empty', 'occupied', 'open', 'fault', 'out_of_service'].map((st) => [st, 0]));
      for (const c of u.compartments) n.set(compartmentState(c), (n.get(compartmentState(c)) ?? 0) + 1);
      for (const [state, value] of n) rows.push({ labels: { unit: u.id, state }, value });
    }
    return rows;
  });

  counters.gauge('lg_parcels', 'parcels holding a compartment, by state (ended parcels: lg_parcel_transitions_total)', ['state'], async () => {
    const n = new Map<string, number>();
    const allocated = await readAll(s.redis, s.units.map((u) => s.parcels.allocatedRead(u.id)));
    for (const [i, u] of s.units.entries()) {
      for (const no of allocated[i]!) {
        for (const p of (await s.parcels.slotWithParcels(u.id, no))?.parcels ?? []) n.set(p.state, (n.get(p.state) ?? 0) + 1);
      }
    }
    return [...n].map(([state, value]) => ({ labels: { state }, value }));
  });

  counters.gauge('lg_outbox_entries', 'notices in the outbox not yet handed to the notification queues', [], async () => [
    { value: await s.redis.xlen(keys(s.prefix).outbox) },
  ]);

  counters.gauge('lg_notify_jobs', 'notification jobs by queue and state (waiting, delayed, active, failed…)', ['queue', 'state'], async () => {
    const rows: { labels: Record<string, string>; value: number }[] = [];
    for (const q of s.queues()) {
      const counts = await q.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) rows.push({ labels: { queue: q.name, state }, value: counts[state] ?? 0 });
    }
    return rows;
  });

  const later = s.later;
  if (later) {
    counters.gauge('lg_notify_later', 'notices due later (reminders, texts held back by quiet hours) kept until nearly due, not yet in a queue', [], async () => [
      { value: await later() },
    ]);
  }

  counters.gauge(
    'lg_engine_pending',
    'unit events read by the parcel engine but not yet acknowledged (consumer group "parcels")',
    ['unit'],
    async () => (await groups()).map((g) => ({ labels: { unit: g.unit }, value: g.pending })),
  );
  counters.gauge('lg_engine_lag', 'unit events not yet read by the parcel engine (consumer group "parcels")', ['unit'], async () =>
    (await groups()).filter((g) => g.lag !== null).map((g) => ({ labels: { unit: g.unit }, value: g.lag! })),
  );

  counters.gauge('lg_alerts_open', 'staff alerts open (neither acknowledged nor cleared), by kind', ['kind'], async () =>
    [...(await openAlertsByKind(s.redis, s.prefix))].map(([kind, value]) => ({ labels: { kind }, value })),
  );

  counters.gauge('lg_deadletters', `entries in the dead-letter stream (${keys(s.prefix).deadLetter})`, [], async () => [
    { value: await s.redis.xlen(keys(s.prefix).deadLetter) },
  ]);
}

/** `read` shared by the callers that ask while it is under way (the gauges of one scrape); each scrape reads afresh. */
function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () =>
    (pending ??= read().finally(() => {
      pending = null;
    }));
}

/** XINFO GROUPS of every unit's event stream: the engine group's pending count and lag (Redis 7+). */
async function engineGroups(s: GaugeSources): Promise<{ unit: string; pending: number; lag: number | null }[]> {
  const pipe = s.redis.pipeline();
  for (const u of s.units) pipe.xinfo('GROUPS', keys(s.prefix).events(u.id));
  const res = (await pipe.exec()) ?? [];
  return s.units.map((u, i) => {
    const [err, groups] = res[i] ?? [null, []];
    if (err) return { unit: u.id, pending: 0, lag: null }; // no stream yet
    for (const g of groups as unknown[][]) {
      const f = new Map<string, unknown>();
      for (let j = 0; j + 1 < g.length; j += 2) f.set(String(g[j]), g[j + 1]);
      if (f.get('name') !== ENGINE_GROUP) continue;
      const lag = f.get('lag');
      return { unit: u.id, pending: Number(f.get('pending') ?? 0), lag: typeof lag === 'number' ? lag : null };
    }
    return { unit: u.id, pending: 0, lag: null };
  });
}
