/**
 * Non-volatile memory of a simulated unit: what a real unit keeps across power cycles, kept across restarts of the
 * process that simulates it. A json-v1 unit's seq survives reboots (shared/protocol/json-v1.md) and the gateway
 * keeps its watermark: a simulator that forgot its seq would have every event dropped as a repeat.
 *
 * - `redisUnitMemory`: for the simulators `npm start` runs in-process, in the gateway's Redis (flushing Redis forgets
 *   the watermark and the simulated units' memory together).
 * - `fileUnitMemory`: for `npm run simulate`, one JSON file per unit in a directory.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { keys } from '../src/store/keys.js';

export interface UnitMemoryState {
  /** json-v1: seq of the last event raised */
  seq?: number;
  /** json-v1: events not yet acknowledged by the broker, oldest first */
  buffer?: { seq: number; payload: string }[];
  /** json-v1: the remembered command ids and their first replies, oldest first */
  replies?: [string, string][];
  /**
   * Every dialect: the compartments holding a parcel. Not memory on a real unit but the parcels themselves, which a
   * power cycle does not take out; without it a restarted simulator came back empty and the gateway took every
   * stored parcel for missing.
   */
  occupied?: number[];
}

export interface UnitMemory {
  load(): Promise<UnitMemoryState>;
  /** Merges `state` into what is kept. Saves are applied in the order they were made. */
  save(state: UnitMemoryState): Promise<void>;
}

/**
 * Kept in the hash `{prefix}sim:{unit}`. A unit that has no memory there yet but that the gateway already knows (its
 * json-v1 watermark, from a run before simulators had a memory) starts from that watermark, as the real unit would.
 */
export function redisUnitMemory(redis: Redis, prefix: string): (unitId: string) => UnitMemory {
  const k = keys(prefix);
  return (unitId) => ({
    async load() {
      const [kept, watermark] = await Promise.all([redis.hgetall(k.simUnit(unitId)), redis.hget(k.unit(unitId), 'lastSeq')]);
      const state: UnitMemoryState = {};
      const seq = kept.seq ?? watermark;
      if (seq != null && Number.isSafeInteger(Number(seq)) && Number(seq) >= 0) state.seq = Number(seq);
      if (kept.buffer) state.buffer = JSON.parse(kept.buffer) as UnitMemoryState['buffer'];
      if (kept.replies) state.replies = JSON.parse(kept.replies) as UnitMemoryState['replies'];
      if (kept.occupied) state.occupied = JSON.parse(kept.occupied) as UnitMemoryState['occupied'];
      return state;
    },
    async save(state) {
      const fields: Record<string, string> = {};
      if (state.seq !== undefined) fields.seq = String(state.seq);
      if (state.buffer) fields.buffer = JSON.stringify(state.buffer);
      if (state.replies) fields.replies = JSON.stringify(state.replies);
      if (state.occupied) fields.occupied = JSON.stringify(state.occupied);
      if (Object.keys(fields).length) await redis.hset(k.simUnit(unitId), fields);
    },
  });
}

/**
 * One file `{dir}/{unit}.json`, replaced atomically on every save. `seedSeq` is the seq of a unit that has no file
 * yet (the CLI starts from the clock, so a first run after older runs without memory does not reuse seqs).
 */
export function fileUnitMemory(dir: string, opts: { seedSeq?: () => number } = {}): (unitId: string) => UnitMemory {
  return (unitId) => {
    const path = join(dir, `${unitId}.json`);
    let current: UnitMemoryState | null = null;
    const read = (): UnitMemoryState => {
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as UnitMemoryState;
      } catch {
        return {};
      }
    };
    return {
      async load() {
        current = read();
        const seed = opts.seedSeq?.();
        return current.seq === undefined && seed !== undefined ? { ...current, seq: seed } : { ...current };
      },
      async save(state) {
        current = { ...(current ?? read()), ...state };
        mkdirSync(dir, { recursive: true });
        writeFileSync(`${path}.tmp`, JSON.stringify(current));
        renameSync(`${path}.tmp`, path);
      },
    };
  };
}
