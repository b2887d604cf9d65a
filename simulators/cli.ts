/**
 * Run simulated locker units against a broker, with a prompt for the people at the units.
 *
 *   npx tsx simulators/cli.ts [--units all|LSN-0001,a4c138f0e2d1,...] [--broker mqtt://127.0.0.1:1883]
 *        [--credentials config/credentials.dev.json] [--autopilot] [--drop 0.1] [--duplicate 0.1] [--noisy]
 *        [--log-level debug|info|warn|error] [--state DIR]
 *
 * Each unit keeps what its real counterpart keeps across power cycles (json-v1: seq, unsent events, remembered
 * command ids) in DIR/{unit}.json (default .sim-state/), so a restart neither reuses event ids nor forgets commands.
 *
 * Without a terminal (stdin closed or not a TTY) it just runs until SIGINT / SIGTERM.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadUnits } from '../src/config/units-file.js';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../src/config/credentials.js';
import type { UnitProfile } from '../src/domain/model.js';
import type { Level } from '../src/log.js';
import { createLogger } from '../src/runtime/logger.js';
import { fileUnitMemory, startSimulators, type CommandInfo, type Faults, type SimulatedUnit } from './index.js';

const USAGE = `usage: npx tsx simulators/cli.ts [--units all|ID,ID...] [--broker URL] [--credentials FILE]
                                  [--autopilot] [--drop P] [--duplicate P] [--noisy] [--log-level LEVEL]
                                  [--state DIR]`;

const HELP = `commands (<unit> = unit id, dialect name or a unique prefix of the id):
  close <unit> <no> [occupied|empty]   a person closes an open door
  put <unit> <no>                       a person puts a parcel into an open compartment
  take <unit> <no>                      a person takes the parcel out of an open compartment
  code <unit> <digits>                  a person types a code on the keypad
  force <unit> <no>                     a door is forced open (alarm)
  crash <unit>                          drop the connection without DISCONNECT (last will)
  reconnect <unit>                      connect again after crash
  reboot <unit>                         crash and restart the firmware
  jam <unit> <no>                       toggle: the lock of compartment <no> does (not) release
  state [<unit>]                        doors, occupancy, keypad and display
  help                                  this text
  quit                                  stop the units cleanly and exit`;

interface CliOptions {
  units: readonly UnitProfile[];
  broker: string;
  credentials: string;
  autopilot: boolean;
  faults: Partial<Faults>;
  logLevel: Level;
  state: string;
}

class UsageError extends Error {}

function probability(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const p = Number(value);
  if (!Number.isFinite(p) || p < 0 || p > 1) throw new UsageError(`--${name} must be a number from 0 to 1, got "${value}"`);
  return p;
}

function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      units: { type: 'string', default: 'all' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      credentials: { type: 'string', default: DEV_CREDENTIALS_FILE },
      autopilot: { type: 'boolean', default: false },
      drop: { type: 'string' },
      duplicate: { type: 'string' },
      noisy: { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      state: { type: 'string', default: '.sim-state' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`${USAGE}\n\n${HELP}`);
    process.exit(0);
  }
  // the gateway's units: UNITS_FILE when set, else the three real ones
  const UNITS = loadUnits(process.env.UNITS_FILE);
  let units: readonly UnitProfile[] = UNITS;
  if (values.units !== 'all') {
    const ids = values.units.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = ids.filter((id) => !UNITS.some((u) => u.id === id));
    if (ids.length === 0 || unknown.length > 0) {
      throw new UsageError(`--units: unknown unit ${unknown.join(', ') || '(none given)'}; known: ${UNITS.map((u) => u.id).join(', ')}`);
    }
    units = UNITS.filter((u) => ids.includes(u.id));
  }
  const level = values['log-level'];
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) throw new UsageError(`--log-level: unknown level "${level}"`);
  const faults: Partial<Faults> = {};
  const drop = probability('drop', values.drop);
  const duplicate = probability('duplicate', values.duplicate);
  if (drop !== undefined) faults.dropRate = drop;
  if (duplicate !== undefined) faults.duplicateRate = duplicate;
  if (values.noisy) faults.noisyLine = true;
  return {
    units,
    broker: values.broker,
    credentials: values.credentials,
    autopilot: values.autopilot,
    faults,
    logLevel: level as Level,
    state: values.state,
  };
}

// ---------------------------------------------------------------- the prompt

class Prompt {
  private readonly jammed = new Map<SimulatedUnit, Set<number>>();

  constructor(private readonly sims: SimulatedUnit[]) {}

  find(token: string | undefined): SimulatedUnit {
    if (!token) throw new UsageError('which unit? (give an id, a dialect name or a prefix of the id)');
    const t = token.toLowerCase();
    const exact = this.sims.find((s) => s.unit.id.toLowerCase() === t || s.unit.dialect === t);
    if (exact) return exact;
    const matches = this.sims.filter((s) => s.unit.id.toLowerCase().startsWith(t));
    if (matches.length === 1) return matches[0]!;
    const running = this.sims.map((s) => `${s.unit.id} (${s.unit.dialect})`).join(', ');
    throw new UsageError(matches.length > 1 ? `"${token}" is ambiguous: ${running}` : `no running unit "${token}"; running: ${running}`);
  }

  private static no(token: string | undefined): number {
    const n = Number(token);
    if (!token || !Number.isInteger(n) || n < 1) throw new UsageError(`compartment number expected, got "${token ?? ''}"`);
    return n;
  }

  /** Run one command line; returns false on quit. */
  async run(line: string): Promise<boolean> {
    const [cmd, unitToken, arg, extra] = line.trim().split(/\s+/);
    switch ((cmd ?? '').toLowerCase()) {
      case '':
        return true;
      case 'help':
      case '?':
        console.log(HELP);
        return true;
      case 'quit':
      case 'exit':
        return false;
      case 'close': {
        const sim = this.find(unitToken);
        if (extra !== undefined && extra !== 'occupied' && extra !== 'empty') throw new UsageError('close: last word must be "occupied" or "empty"');
        sim.closeDoor(Prompt.no(arg), extra === undefined ? undefined : extra === 'occupied');
        break;
      }
      case 'put':
        this.find(unitToken).putParcel(Prompt.no(arg));
        break;
      case 'take':
        this.find(unitToken).takeParcel(Prompt.no(arg));
        break;
      case 'code': {
        if (!arg || !/^\d+$/.test(arg)) throw new UsageError('code: digits expected');
        this.find(unitToken).typeCode(arg);
        break;
      }
      case 'force':
        this.find(unitToken).forceDoor(Prompt.no(arg));
        break;
      case 'crash':
        await this.find(unitToken).crash();
        break;
      case 'reconnect':
        await this.find(unitToken).reconnect();
        break;
      case 'reboot':
        await this.find(unitToken).reboot();
        break;
      case 'jam': {
        const sim = this.find(unitToken);
        const no = Prompt.no(arg);
        if (!sim.unit.compartments.some((c) => c.no === no)) throw new UsageError(`${sim.unit.id} has no compartment ${no}`);
        const set = this.jammed.get(sim) ?? new Set<number>();
        if (set.has(no)) set.delete(no);
        else set.add(no);
        this.jammed.set(sim, set);
        sim.setFaults({ jammed: [...set] });
        console.log(`${sim.unit.id}: jammed locks: ${[...set].sort((a, b) => a - b).join(', ') || 'none'}`);
        return true;
      }
      case 'state':
        for (const sim of unitToken ? [this.find(unitToken)] : this.sims) console.log(describe(sim));
        return true;
      default:
        throw new UsageError(`unknown command "${cmd}" (try help)`);
    }
    console.log('ok');
    return true;
  }
}

function describe(sim: SimulatedUnit): string {
  const s = sim.snapshot();
  const doors = Object.entries(s.doors);
  const list = (pred: (d: { open: boolean; occupied: boolean }) => boolean) =>
    doors.filter(([, d]) => pred(d)).map(([no]) => no).join(' ') || '-';
  return [
    `${sim.unit.id} (${sim.unit.dialect}, ${sim.unit.siteName.en}): ${s.online ? 'online' : 'OFFLINE'}`,
    `  open:     ${list((d) => d.open)}`,
    `  occupied: ${list((d) => d.occupied)}`,
    `  keypad:   ${s.keypadEnabled ? 'enabled' : 'disabled'}   display: ${s.display ? JSON.stringify(s.display.text) : '-'}`,
  ].join('\n');
}

function describeCommand(id: string, c: CommandInfo): string {
  const notes = [c.duplicate ? 'repeat, answered again' : '', c.answered === false ? 'not answered' : ''].filter(Boolean);
  return `[${id}] command ${c.op} -> ${c.result}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const logger = createLogger(opts.logLevel, { app: 'simulators' });
  const credentials = loadCredentials({ file: opts.credentials });
  console.log(`starting ${opts.units.map((u) => u.id).join(', ')} against ${opts.broker}`);
  const sims = await startSimulators({
    brokerUrl: opts.broker,
    credentials,
    units: opts.units,
    faults: opts.faults,
    autopilot: { enabled: opts.autopilot },
    logger,
    // json-v1 seq survives a real unit's restarts: kept in --state. A unit without a file yet starts from the clock
    // (seconds), above any seq an earlier run without memory reached (unless it raised more than one a second).
    memory: fileUnitMemory(opts.state, { seedSeq: () => Math.floor(Date.now() / 1000) }),
  });

  let stopping = false;
  const interactive = Boolean(process.stdin.isTTY);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, prompt: 'sim> ' });
  const say = (text: string) => {
    if (interactive) process.stdout.write('\r\x1b[K');
    console.log(text);
    if (interactive && !stopping) rl.prompt(true);
  };
  for (const sim of sims) {
    sim.on('command', (c: CommandInfo) => say(describeCommand(sim.unit.id, c)));
    sim.on('connected', () => say(`[${sim.unit.id}] connected`));
    sim.on('disconnected', () => say(`[${sim.unit.id}] disconnected`));
  }

  const shutdown = async (code = 0) => {
    if (stopping) process.exit(1); // second Ctrl-C: do not wait
    stopping = true;
    console.log('\nstopping the units...');
    rl.close();
    await Promise.allSettled(sims.map((s) => s.stop()));
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  rl.on('SIGINT', () => void shutdown());

  const prompt = new Prompt(sims);
  let busy = Promise.resolve();
  rl.on('line', (line) => {
    busy = busy.then(async () => {
      try {
        if (!(await prompt.run(line))) return void shutdown();
      } catch (err) {
        console.log(`error: ${(err as Error).message}`);
      }
      if (interactive && !stopping) rl.prompt();
    });
  });
  rl.on('close', () => {
    if (stopping) return;
    if (interactive) void shutdown();
    else console.log('stdin closed: the units keep running until Ctrl-C / SIGTERM');
  });
  console.log(`running ${sims.length} unit(s).${interactive ? ' Type help for commands.' : ''}`);
  if (interactive) rl.prompt();
}

main().catch((err: unknown) => {
  console.error(`simulators: ${(err as Error).message ?? String(err)}`);
  process.exit(1);
});
