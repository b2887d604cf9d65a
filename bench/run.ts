/**
 * `npm run bench`: whole parcel lifecycles against the gateway as a user runs it, and the floor. See bench/README.md.
 *
 *   npm run bench                                   # 3 real units, 32 in flight, 5 s warm-up + 60 s measured, floor
 *   npm run bench -- --concurrency 64 --seconds 30 --units 30
 *   npm run bench -- --units 30 --workers-process    # relay + notification workers in a ROLE=workers process
 *   npm run bench -- --units 30 --gateways 2 --workers-process   # 2 gateways (UNIT_LEASES=on, Mosquitto) + workers
 *   npm run bench -- --fleet 1000                   # 1,000 connected units: gateway RSS, heartbeats (bench/fleet.ts)
 *   npm run bench -- --help
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runFleet } from './e2e/fleet.js';
import { runLifecycles } from './e2e/lifecycles.js';
import { cdfChart, type Series } from './e2e/chart.js';
import { ROOT } from './e2e/procs.js';
import { markdown, type Result } from './e2e/report.js';

const { values: opt } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    units: { type: 'string', default: '3' },
    'autopilot-ms': { type: 'string', default: '20' },
    floor: { type: 'string', default: 'on' },
    'floor-seconds': { type: 'string' },
    'memory-parcels': { type: 'string', default: '60' },
    'cpu-prof': { type: 'boolean', default: false },
    'workers-process': { type: 'boolean', default: false },
    gateways: { type: 'string', default: '1' },
    broker: { type: 'string', default: 'embedded' },
    fleet: { type: 'string' },
    'fleet-seconds': { type: 'string', default: '60' },
    'gateway-heap-mb': { type: 'string' },
    out: { type: 'string', default: 'bench/results' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(`npm run bench -- [--concurrency 32] [--seconds 60] [--warmup 5] [--units 3] [--autopilot-ms 20]
  [--floor on|off] [--floor-seconds min(seconds,20)] [--memory-parcels 60] [--out bench/results] [--cpu-prof]
  [--gateway-heap-mb N]   (the gateway processes' --max-old-space-size; default: Node's, as npm start runs it)
  [--broker embedded|mosquitto]   (one gateway: its embedded broker, or a Mosquitto of the bench's own; several: Mosquitto)
  [--workers-process] [--gateways 1]   (relay + notification workers in a process of their own; N gateway processes
                                        sharing the units by lease on a Mosquitto of the bench's own)
npm run bench -- --fleet 1000 [--fleet-seconds 60] [--gateway-heap-mb 128] [--cpu-prof]   (--cpu-prof: also --heap-prof)`);
  process.exit(0);
}
const num = (name: keyof typeof opt, min = 0): number => {
  const v = Number(opt[name]);
  if (!Number.isFinite(v) || v < min) {
    console.error(`--${name}: a number >= ${min} expected, got ${String(opt[name])}`);
    process.exit(2);
  }
  return v;
};

function machine(): Result['machine'] {
  const v = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  return {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    redis: v('redis-server', ['--version']).replace(/^Redis server v=(\S+).*/, '$1'),
    uptime: v('uptime', []),
    loadBefore: loadavg(),
    loadAfter: [],
  };
}

const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
const outDir = resolve(ROOT, opt.out);
const shown = relative(ROOT, outDir).startsWith('..') ? outDir : relative(ROOT, outDir);
mkdirSync(outDir, { recursive: true });
const m = machine();
console.error(`machine: ${m.cpus}, ${m.memory}, node ${m.node}, redis-server ${m.redis}; uptime: ${m.uptime}`);

if (opt.fleet !== undefined) {
  const r = await runFleet({
    units: num('fleet', 1),
    seconds: num('fleet-seconds', 5),
    machine: m,
    logFile: join(outDir, `${stamp}-fleet.gateway.log`),
    ...(opt['gateway-heap-mb'] !== undefined ? { heapMb: num('gateway-heap-mb', 16) } : {}),
    ...(opt['cpu-prof'] ? { profDir: outDir } : {}),
  });
  writeFileSync(join(outDir, `${stamp}-fleet.json`), JSON.stringify(r.json, null, 2));
  writeFileSync(join(outDir, `${stamp}-fleet.md`), r.markdown);
  console.log(r.markdown);
  console.error(`written: ${shown}/${stamp}-fleet.{md,json}`);
  process.exit(r.ok ? 0 : 1);
}

const seconds = num('seconds', 1);
const settings = {
  concurrency: num('concurrency', 1),
  seconds,
  warmup: num('warmup', 0),
  units: num('units', 1),
  autopilotMs: num('autopilot-ms', 0),
  floorSeconds: opt.floor === 'off' ? 0 : opt['floor-seconds'] ? num('floor-seconds', 1) : Math.min(seconds, 20),
  gateways: num('gateways', 1),
  workersProcess: opt['workers-process'],
  broker: opt.broker === 'mosquitto' ? ('mosquitto' as const) : ('embedded' as const),
};
if (opt.broker !== 'embedded' && opt.broker !== 'mosquitto') {
  console.error(`--broker: embedded or mosquitto expected, got ${opt.broker}`);
  process.exit(2);
}
if (!Number.isInteger(settings.gateways) || settings.gateways > settings.units) {
  console.error(`--gateways: a whole number from 1 to --units (${settings.units}) expected, got ${opt.gateways}`);
  process.exit(2);
}
const args = process.argv.slice(2).join(' ');
const run = await runLifecycles({ ...settings, memoryParcels: num('memory-parcels', 0), logFile: join(outDir, `${stamp}.gateway.log`), ...(opt['cpu-prof'] ? { cpuProfDir: outDir } : {}), ...(opt['gateway-heap-mb'] !== undefined ? { heapMb: num('gateway-heap-mb', 16) } : {}) });
m.loadAfter = loadavg();

const series: Series[] = [];
const many = run.units.length > 6;
const groups = many ? ['json-v1', 'compact-v2', 'frame-485'].map((d) => ({ label: d, dialect: d, ids: run.units.filter((u) => u.dialect === d).map((u) => u.id) })) : run.units.map((u) => ({ label: `${u.id} ${u.dialect}`, dialect: u.dialect, ids: [u.id] }));
for (const g of groups) {
  series.push({ label: g.label, dialect: g.dialect, floor: false, values: g.ids.flatMap((id) => run.c2oWindow.get(id) ?? []) });
  if (run.floor) series.push({ label: `${g.label} floor`, dialect: g.dialect, floor: true, values: g.ids.flatMap((id) => run.floor!.samples.of('code-to-open', id)) });
}
const chartFile = `${shown}/${stamp}.svg`;
writeFileSync(join(outDir, `${stamp}.svg`), cdfChart(`code-to-open at ${settings.concurrency} lifecycles in flight: gateway (solid) vs floor (dashed)`, series));

const result: Result = {
  when: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  command: `npm run bench${args ? ` -- ${args}` : ''}`,
  machine: m,
  settings: { ...settings, gatewayEnv: run.gatewayEnv },
  window: run.window,
  latency: run.latency,
  gateway: run.gateway,
  shape: { name: run.shape, rssMB: run.rssMB },
  memory: run.memory,
  nothingLost: run.nothingLost,
  floor: run.floor ? { entries: run.floor.entries, skipped: run.floor.skipped, seconds: run.floor.seconds, errors: run.floor.errors.count, ratePerUnit: run.floor.ratePerUnit } : null,
  chart: chartFile,
};
const md = markdown(result);
writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify(result, null, 2));
writeFileSync(join(outDir, `${stamp}.md`), md);
console.log(md);
console.error(`written: ${shown}/${stamp}.{md,json,svg} (gateway log: ${stamp}.gateway.log)`);
process.exit(result.nothingLost.ok ? 0 : 1);
