/**
 * The floor: the same simulated units (a process of their own, real MQTT) against the bare responder of
 * floor-child.ts through the same kind of broker. Keypad entries are paced per unit at the rate the gateway run
 * reached on that unit (open loop, like people arriving), so the floor is measured at that load. Each entry
 * opens a free compartment; the autopilot puts a parcel in or takes it out and closes the door, which frees it.
 */
import type { ChildProcess } from 'node:child_process';
import type { UnitProfile } from '../../src/domain/model.js';
import { Progress } from './progress.js';
import { spawnTs } from './procs.js';
import { Sims } from './sims.js';
import { Errors, Samples } from './stats.js';

export interface FloorResult {
  samples: Samples;
  errors: Errors;
  entries: number;
  /** entries skipped: every compartment of the unit was busy */
  skipped: number;
  seconds: number;
  ratePerUnit: Record<string, number>;
  simPid: number;
}

async function startResponder(units: readonly UnitProfile[], credentialsFile: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawnTs('bench/e2e/floor-child.ts', [JSON.stringify({ units, credentialsFile })]);
  const m = await new Promise<{ t: string; url?: string; message?: string }>((resolve, reject) => {
    proc.once('message', resolve);
    proc.once('exit', (code) => reject(new Error(`the floor responder exited (${code})`)));
  });
  if (m.t !== 'ready' || !m.url) throw new Error(`the floor responder did not start: ${m.message ?? m.t}`);
  return { proc, url: m.url };
}

export async function runFloor(o: {
  units: readonly UnitProfile[];
  credentialsFile: string;
  autopilotMs: number;
  seconds: number;
  warmup: number;
  /** keypad entries per second, per unit */
  rate: (unit: UnitProfile) => number;
  progress: Progress;
}): Promise<FloorResult> {
  const responder = await startResponder(o.units, o.credentialsFile);
  const { sims } = await Sims.start({ brokerUrl: responder.url, units: o.units, credentialsFile: o.credentialsFile, autopilotMs: o.autopilotMs });
  const samples = new Samples();
  const errors = new Errors();
  let entries = 0;
  let skipped = 0;
  let measuring = false;
  const cycles: Promise<void>[] = [];
  const state = o.units.map((unit, i) => ({
    unit,
    rate: Math.max(0.5, o.rate(unit)),
    // units out of step with each other: a unit's entries are due at (k + phase) / rate, not all units' at once
    phase: i / o.units.length,
    issued: 0,
    busy: new Set<number>(),
    occupied: new Set<number>(),
  }));
  const cycle = async (s: (typeof state)[number], no: number) => {
    s.busy.add(no);
    try {
      sims.typeCode(s.unit.id, no, String(900_000 + no));
      const n = await sims.wait('c2o', s.unit.id, no, 30_000);
      if (measuring && n.k === 'c2o') samples.record('code-to-open', s.unit.id, n.ms);
      const wasOccupied = s.occupied.has(no);
      await sims.wait(wasOccupied ? 'out' : 'in', s.unit.id, no, 30_000);
      if (wasOccupied) s.occupied.delete(no);
      else s.occupied.add(no);
    } catch (err) {
      errors.add(err);
    } finally {
      s.busy.delete(no);
    }
  };
  const total = o.warmup + o.seconds;
  o.progress.start('floor', total, () => `${entries} keypad entries, ${skipped} skipped, errors ${errors.count}`);
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const el = (Date.now() - t0) / 1000;
      if (el >= total) {
        clearInterval(tick);
        resolve();
        return;
      }
      if (!measuring && el >= o.warmup) measuring = true;
      for (const s of state) {
        const due = Math.floor(el * s.rate + s.phase) - s.issued;
        for (let i = 0; i < due; i++) {
          s.issued++;
          const free = s.unit.compartments.find((c) => !s.busy.has(c.no));
          if (!free) {
            skipped++;
            continue;
          }
          entries++;
          cycles.push(cycle(s, free.no));
        }
      }
    }, 5);
  });
  measuring = false;
  await Promise.all(cycles);
  o.progress.stop();
  const simPid = sims.pid;
  await sims.stop();
  responder.proc.send({ t: 'stop' });
  await new Promise((r) => responder.proc.once('exit', r));
  return { samples, errors, entries, skipped, seconds: o.seconds, ratePerUnit: Object.fromEntries(state.map((s) => [s.unit.id, s.rate])), simPid };
}
