/**
 * Child process of `npm run bench`: the simulated units (simulators/), speaking real MQTT to the broker under test
 * (the gateway's embedded broker, or the floor responder's). Driven over IPC by the load driver (sims.ts):
 *
 *   parent -> child  {t:'start', brokerUrl, units, credentialsFile, autopilotMs, heartbeatMs?}
 *                    {t:'code', unit, no, code}   a person types `code` at the unit, to open compartment `no`
 *                    {t:'stop'}
 *   child -> parent  {t:'ready'} | {t:'error', message} | {t:'stopped'}
 *                    batches {t:'batch', items: Note[]} of what the units saw, in order (see Note)
 *
 * Times are epoch ms with sub-ms precision (performance.timeOrigin + now()), comparable across processes of one machine.
 * Code-to-open is measured here, where a person would measure it: from the keypad message handed to the MQTT
 * client to the open command carried out by the unit (its lock released).
 */
import { performance } from 'node:perf_hooks';
import type { UnitProfile } from '../../src/domain/model.js';
import { loadCredentials } from '../../src/config/credentials.js';
import { SimulatedUnit, startSimulators } from '../../simulators/index.js';

export type Note =
  | { k: 'open'; unit: string; no: number; at: number }
  | { k: 'closed'; unit: string; no: number; occupied: boolean; at: number }
  /** code-to-open of a code typed with {t:'code'} (ms) */
  | { k: 'c2o'; unit: string; no: number; ms: number; at: number };

export type ToChild =
  | { t: 'start'; brokerUrl: string; units: UnitProfile[]; credentialsFile: string; autopilotMs: number; heartbeatMs?: number }
  | { t: 'code'; unit: string; no: number; code: string }
  | { t: 'stop' };

export type FromChild = { t: 'ready'; connected: number } | { t: 'error'; message: string } | { t: 'stopped' } | { t: 'batch'; items: Note[] };

const now = () => performance.timeOrigin + performance.now();
const send = (m: FromChild) => process.send?.(m);

let pending: Note[] = [];
const note = (n: Note) => {
  if (pending.length === 0) setImmediate(flush);
  pending.push(n);
};
function flush(): void {
  if (!pending.length) return;
  send({ t: 'batch', items: pending });
  pending = [];
}

/** codes typed and not yet answered by an open: `${unit}/${no}` -> when typed */
const typed = new Map<string, number>();

// Watch the hardware of every simulated unit: a released lock, a closed door.
type Hooked = { releaseLock(no: number): string; closeDoor(no: number, occupied?: boolean): void; unit: UnitProfile };
const proto = SimulatedUnit.prototype as unknown as Hooked;
const release = proto.releaseLock;
proto.releaseLock = function (this: Hooked, no: number) {
  const r = release.call(this, no);
  const at = now();
  if (r === 'opened') {
    const key = `${this.unit.id}/${no}`;
    const t0 = typed.get(key);
    if (t0 !== undefined) {
      typed.delete(key);
      note({ k: 'c2o', unit: this.unit.id, no, ms: at - t0, at });
    }
    note({ k: 'open', unit: this.unit.id, no, at });
  }
  return r;
};
const close = proto.closeDoor;
proto.closeDoor = function (this: Hooked, no: number, occupied?: boolean) {
  close.call(this, no, occupied);
  const doors = (this as unknown as { doors: Map<number, { occupied: boolean }> }).doors;
  note({ k: 'closed', unit: this.unit.id, no, occupied: doors.get(no)?.occupied ?? false, at: now() });
};

const sims: SimulatedUnit[] = [];
const byId = new Map<string, SimulatedUnit>();

process.on('message', (m: ToChild) => {
  void (async () => {
    try {
      if (m.t === 'start') {
        const credentials = loadCredentials({ file: m.credentialsFile });
        // a fleet connects 50 units at a time (the broker closes a connection not logged in within 5 s)
        for (let i = 0; i < m.units.length; i += 50) {
          const batch = await startSimulators({
            brokerUrl: m.brokerUrl,
            credentials,
            units: m.units.slice(i, i + 50),
            autopilot: { enabled: true, delayMs: m.autopilotMs },
            extra: { ...(m.heartbeatMs ? { heartbeatMs: m.heartbeatMs } : {}), reconnectMs: 1000 },
          });
          sims.push(...batch);
        }
        for (const s of sims) byId.set(s.unit.id, s);
        send({ t: 'ready', connected: sims.filter((s) => s.online).length });
      } else if (m.t === 'code') {
        const sim = byId.get(m.unit);
        if (!sim) throw new Error(`no simulated unit ${m.unit}`);
        typed.set(`${m.unit}/${m.no}`, now());
        sim.typeCode(m.code);
      } else if (m.t === 'stop') {
        flush();
        await Promise.allSettled(sims.map((s) => s.stop()));
        send({ t: 'stopped' });
        setTimeout(() => process.exit(0), 50);
      }
    } catch (err) {
      send({ t: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
