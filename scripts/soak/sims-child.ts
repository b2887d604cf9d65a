/**
 * The three simulated units in a process of their own (forked by the soak, IPC for orders), so they keep their
 * physical state (doors, parcels inside) while the gateway, the broker or Redis are killed. Every door that springs
 * open is reported to the parent (`opened` messages): the soak counts openings from the hardware's side.
 *
 * argv: brokerUrl seed
 */
import { UNITS } from '../../devices/units.js';
import { DEV_CREDENTIALS_FILE, loadCredentials, unitKey } from '../../src/config/credentials.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createSimulator, type Faults, type SimulatedUnit } from '../../simulators/index.js';
import type { SimRequest, SimResponse } from './sims.js';

const [brokerUrl, seedText] = process.argv.slice(2);
if (!brokerUrl || !process.send) {
  console.error('sims-child: run by the soak (fork with IPC): sims-child.js BROKER_URL SEED');
  process.exit(2);
}
const send = (m: SimResponse) => process.send!(m);
const seed = Number(seedText ?? 1);
const credentials = loadCredentials({ file: DEV_CREDENTIALS_FILE });
const logger = createLogger((process.env.SOAK_SIM_LOG as 'warn' | undefined) ?? 'silent', { app: 'soak-sims' });

const sims = new Map<string, SimulatedUnit>();
/** last seen open/closed of every door, to report openings */
const seen = new Map<string, boolean>();

UNITS.forEach((unit, i) => {
  const creds = credentials.units[unit.id]!;
  const sim = createSimulator({
    unit,
    brokerUrl,
    password: creds.password,
    key: unitKey(credentials, unit.id),
    logger,
    seed: seed * 7 + i,
    autopilot: { enabled: false },
    reconnectMs: 1000,
    doorLeftOpenMs: 600_000,
  });
  sims.set(unit.id, sim);
  for (const c of unit.compartments) seen.set(`${unit.id}:${c.no}`, false);
  sim.on('command', () => setImmediate(diff));
});

function diff(): void {
  for (const [id, sim] of sims) {
    for (const [no, d] of Object.entries(sim.snapshot().doors)) {
      const key = `${id}:${no}`;
      const was = seen.get(key);
      if (d.open && !was) send({ ev: 'opened', unit: id, no: Number(no), at: Date.now() });
      seen.set(key, d.open);
    }
  }
}
setInterval(diff, 20);

function sim(unit: unknown): SimulatedUnit {
  const s = sims.get(String(unit));
  if (!s) throw new Error(`no unit ${String(unit)}`);
  return s;
}

async function handle(req: SimRequest): Promise<unknown> {
  const s = req.unit !== undefined ? sim(req.unit) : null;
  switch (req.op) {
    case 'start':
      await Promise.all([...sims.values()].map((x) => x.start()));
      return null;
    case 'snapshot':
      return s!.snapshot();
    case 'put':
      diff();
      s!.putParcel(req.no!);
      return null;
    case 'take':
      diff();
      s!.takeParcel(req.no!);
      return null;
    case 'close':
      diff();
      s!.closeDoor(req.no!);
      seen.set(`${req.unit}:${req.no}`, false);
      return null;
    case 'code':
      s!.typeCode(req.code!);
      return null;
    case 'crash':
      await s!.crash();
      return null;
    case 'reconnect':
      await s!.reconnect();
      return null;
    case 'faults':
      s!.setFaults(req.faults as Partial<Faults>);
      return null;
    case 'stop':
      await Promise.allSettled([...sims.values()].map((x) => x.stop()));
      return null;
  }
}

process.on('message', (req: SimRequest) => {
  handle(req).then(
    (result) => send({ id: req.id, ok: true, result }),
    (err: unknown) => send({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
