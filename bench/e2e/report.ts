/** The result of `npm run bench` as JSON and as paste-ready Markdown (the section of docs/benchmarks.md). */
import type { WindowFigures } from './measure.js';
import type { Dist } from './stats.js';

export interface UnitLatency {
  unit: string;
  dialect: string;
  gateway: Dist;
  floor: Dist | null;
  ratio: { p50: number; p95: number; p99: number } | null;
}

export interface Result {
  when: string;
  command: string;
  machine: { cpus: string; memory: string; node: string; redis: string; uptime: string; loadBefore: number[]; loadAfter: number[] };
  settings: { concurrency: number; seconds: number; warmup: number; units: number; autopilotMs: number; floorSeconds: number; gateways: number; workersProcess: boolean; broker?: 'embedded' | 'mosquitto'; gatewayEnv: Record<string, string> };
  /** the processes the gateway ran as (bench/e2e/shape.ts), and each one's RSS at the end */
  shape: { name: string; rssMB: Record<string, number> };
  window: WindowFigures;
  latency: { deposit: Dist; codeSms: Dist; collectedSms: Dist; codeToOpen: UnitLatency[]; codeToOpenByDialect: UnitLatency[] };
  gateway: { rssMBAtEnd: number; peakRssMB: number; commandsPerLifecycle: Record<string, number>; warnings: { level: string; msg: string; count: number }[] };
  memory: { storedParcels: number; liveBytesPerStoredParcel: number; live: [string, number][]; lifecycles: number; evidenceBytesPerLifecycle: number; evidence: [string, number][] } | null;
  nothingLost: {
    ok: boolean;
    deposited: number;
    collected: number;
    lost: number;
    smsKeys: number;
    smsDuplicates: number;
    smsMissing: number;
    errors: number;
    topErrors: { message: string; count: number }[];
    gaugesAfter: Record<string, number>;
    /** notification jobs waiting, delayed or active at the window's end, and left 120 s after the run */
    notifyBacklog: { atWindowEnd: number; after: number };
  };
  floor: { entries: number; skipped: number; seconds: number; errors: number; ratePerUnit: Record<string, number> } | null;
  chart: string;
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? f(x, 2) : x < 100 ? f(x, 1) : f(x, 0)) : '–');
const distRow = (name: string, d: Dist) => `| ${name} | ${d.n} | ${ms(d.p50)} | ${ms(d.p95)} | ${ms(d.p99)} | ${ms(d.max)} |`;

function setUp(r: Result): string {
  const { gateways, workersProcess, broker } = r.settings;
  const workers = workersProcess ? ' plus a ROLE=workers process (the outbox relay and the notification workers)' : '';
  if (gateways <= 1) return `its own process (\`node dist/src/runtime/node.js\`, ${broker === 'mosquitto' ? "MQTT_URL: a Mosquitto of the bench's own" : 'embedded broker'}, SIMULATORS=off${workersProcess ? ', ROLE=gateway' : ''})${workers}`;
  return `${gateways} processes (\`node dist/src/runtime/node.js\`, UNIT_LEASES=on${workersProcess ? ', ROLE=gateway' : ''}, SIMULATORS=off, deposits round-robin over their ports) on a Mosquitto of the bench's own${workers}`;
}

export function markdown(r: Result): string {
  const w = r.window;
  const L: string[] = [];
  L.push(`### npm run bench, ${r.when}${r.shape.name !== 'one process' ? ` (${r.shape.name})` : ''}`, '');
  L.push(`Command: \`${r.command}\``, '');
  L.push(
    `Machine: ${r.machine.cpus}, ${r.machine.memory}, Node ${r.machine.node}, redis-server ${r.machine.redis}. ` +
      `Load average before the run ${r.machine.loadBefore.map((x) => x.toFixed(2)).join(' / ')}, after ${r.machine.loadAfter.map((x) => x.toFixed(2)).join(' / ')} ` +
      `(\`uptime\`: ${r.machine.uptime}).`,
    '',
  );
  L.push(
    `Set-up: the gateway as ${setUp(r)}, a redis-server of its own ` +
      `(AOF, appendfsync everysec), ${r.settings.units} simulated unit(s) in another process speaking MQTT (autopilot ${r.settings.autopilotMs} ms), ` +
      `deposits over HTTP and codes from an HTTP SMS receiver in the load driver's process; ${r.settings.concurrency} lifecycles in flight, ` +
      `${r.settings.warmup} s warm-up, ${f(w.seconds, 1)} s measured. Gateway settings: ${Object.entries(r.settings.gatewayEnv).map(([k, v]) => `${k}=${v}`).join(' ')}.`,
    '',
  );
  const nl = r.nothingLost;
  L.push('| | |', '|---|---|');
  const many = r.settings.units > 6;
  const dialectOf = new Map(r.latency.codeToOpen.map((u) => [u.unit, u.dialect]));
  const rates = many
    ? Object.entries(
        Object.entries(w.perUnitPerS).reduce<Record<string, number>>((acc, [u, v]) => ({ ...acc, [dialectOf.get(u) ?? '?']: (acc[dialectOf.get(u) ?? '?'] ?? 0) + v }), {}),
      ).map(([d, v]) => `${d} units ${f(v)}`)
    : Object.entries(w.perUnitPerS).map(([u, v]) => `${u} ${f(v)}`);
  L.push(`| **lifecycles/s** | **${f(w.lifecyclesPerS)}** (${w.lifecycles} in ${f(w.seconds)} s; ${rates.join(', ')}) |`);
  L.push(`| gateway CPU | **${f(w.gatewayCpuMsPerLifecycle, 2)} ms per lifecycle** (${f(w.cpuPct.gateway, 0)} % of a core)${w.processes.length > 1 ? `, summed over the gateway-side processes` : ''} |`);
  if (w.processes.length > 1) {
    const rt = (p: (typeof w.processes)[number]) => (p.redisCommandsPerLifecycle !== undefined ? `, Redis ${f(p.redisCommandsPerLifecycle)} commands in ${f(p.roundTripsPerLifecycle ?? NaN)} round trips` : '');
    L.push(`| CPU by process (per lifecycle) | ${w.processes.map((p) => `${p.name} ${f(p.cpuMsPerLifecycle, 2)} ms (${f(p.cpuPct, 0)} % of a core, RSS ${f(r.shape.rssMB[p.name] ?? NaN, 0)} MB${rt(p)})`).join('; ')} |`);
  }
  L.push(`| other CPU (% of a core) | redis-server ${f(w.cpuPct.redis, 0)}, simulated units ${f(w.cpuPct.sims, 0)}, load driver + SMS receiver ${f(w.cpuPct.driver, 0)} |`);
  L.push(`| Redis per lifecycle | ${f(w.redis.serverCallsPerLifecycle)} commands run by Redis (Lua-internal included), ${f(w.redis.gatewayCommandsPerLifecycle)} sent by the gateway in **${f(w.redis.roundTripsPerLifecycle)} round trips** (${f(w.redis.pipelinesPerLifecycle)} pipelines) |`);
  L.push(`| gateway round trips of single commands per lifecycle | ${w.redis.aloneTop.map((t) => `${t.command} ${f(t.perLifecycle)}`).join(', ')} |`);
  L.push(`| commands to the units, and messages from them, per lifecycle (whole run) | ${Object.entries(r.gateway.commandsPerLifecycle).map(([op, n]) => `${op} ${f(n, 2)}`).join(', ')} |`);
  L.push(`| Redis: top commands run per lifecycle | ${w.redis.top.map((t) => `${t.command} ${f(t.perLifecycle)}`).join(', ')} |`);
  if (r.memory) {
    L.push(`| Redis live state per stored parcel | **${f(r.memory.liveBytesPerStoredParcel, 0)} B** (${r.memory.storedParcels} stored at once: ${r.memory.live.map(([k, v]) => `${k.replace(/^live: /, '')} ${f(v, 0)}`).join(', ')}) |`);
    L.push(`| Redis evidence per lifecycle | **${f(r.memory.evidenceBytesPerLifecycle, 0)} B** (over ${r.memory.lifecycles} lifecycles: ${r.memory.evidence.map(([k, v]) => `${k.replace(/^evidence: /, '')} ${f(v, 0)}`).join(', ')}) |`);
  }
  L.push(`| gateway memory | RSS ${f(r.gateway.rssMBAtEnd, 0)} MB at the end (peak ${f(r.gateway.peakRssMB, 0)} MB), JS heap used ${f(w.gatewayHeapMBAtEnd, 0)} MB at the window's end |`);
  L.push(`| gateway warnings and errors logged | ${r.gateway.warnings.length ? r.gateway.warnings.map((x) => `${x.count}× ${x.level} "${x.msg.replace(/\|/g, '/')}"`).join(', ') : 'none'} |`);
  L.push(
    `| nothing lost | ${nl.ok ? '**yes**' : '**NO**'}: ${nl.deposited} deposited, ${nl.collected} collected, ${nl.lost} not collected; ${nl.smsKeys} texts, ${nl.smsDuplicates} sent twice, ${nl.smsMissing} missing; ${nl.errors} errors` +
      `${nl.topErrors.length ? ` (${nl.topErrors.map((e) => `${e.count}× ${e.message}`).join('; ')})` : ''}; after the run: ${Object.entries(nl.gaugesAfter).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `notification jobs not done: ${nl.notifyBacklog.atWindowEnd} at the window's end, ${nl.notifyBacklog.after} after the run |`,
  );
  L.push('');
  L.push('Latency (ms), measured window:', '', '| | n | p50 | p95 | p99 | max |', '|---|---|---|---|---|---|');
  L.push(distRow('deposit (HTTP request → 201, the door open)', r.latency.deposit));
  L.push(distRow('code SMS (door closed with the parcel → text received)', r.latency.codeSms));
  L.push(distRow('collected SMS (door closed empty → text received)', r.latency.collectedSms));
  L.push('');
  L.push(
    `Code-to-open (ms; keypad message sent by the unit → open carried out by the unit), gateway vs the floor (the same units against a bare responder` +
      ` through the same broker${r.floor ? `, paced at the gateway's rate per unit, ${r.floor.entries} keypad entries, ${r.floor.skipped} skipped, ${r.floor.errors} errors` : ''}):`,
    '',
  );
  L.push('| unit | dialect | n | p50 | p95 | p99 | floor p50 | floor p95 | floor p99 | × floor p50 | × p95 | × p99 |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
  const rows = [...(many ? r.latency.codeToOpenByDialect : r.latency.codeToOpen)].sort((a, b) => Number(a.dialect === 'frame-485') - Number(b.dialect === 'frame-485'));
  for (const u of rows) {
    const fl = u.floor;
    const x = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${f(v, 1)}×` : '–');
    L.push(
      `| ${u.unit} | ${u.dialect}${u.dialect === 'frame-485' ? ' (RS-485 bus: apart)' : ''} | ${u.gateway.n} | ${ms(u.gateway.p50)} | ${ms(u.gateway.p95)} | ${ms(u.gateway.p99)} | ` +
        `${fl ? `${ms(fl.p50)} | ${ms(fl.p95)} | ${ms(fl.p99)}` : '– | – | –'} | ${x(u.ratio?.p50)} | ${x(u.ratio?.p95)} | ${x(u.ratio?.p99)} |`,
    );
  }
  if (many) L.push('', 'Per unit: see the JSON (`latency.codeToOpen`).');
  L.push('', `Chart: \`${r.chart}\`.`, '');
  return L.join('\n');
}
