/**
 * `npm run bench -- --fleet N`: one gateway process (as `npm start` runs it) holding N connected simulated units
 * (another process), idle. Reports the gateway's RSS once they are connected and after `seconds`, its CPU, and
 * whether everything connected and heartbeats flow: at the end every unit must be online for the gateway, and every
 * compact-v2 and frame-485 unit heard from (lastSeen) within the last 20 s: compact-v2 units send a heartbeat every
 * 10 s here (30 s by default), frame-485 ones answer the gateway's status polls (POLL_INTERVAL_MS, 5 s). json-v1
 * units send no heartbeat messages; their MQTT keep-alive (to the broker) keeps them online.
 * N > 3 needs the gateway's UNITS_FILE setting (the units come from a configuration file).
 */
import { performance } from 'node:perf_hooks';
import { gatewayEnv, metricsOf, waitOnline } from './lifecycles.js';
import { cpuMs, rssBytes, startGateway, startRedis } from './procs.js';
import { Progress } from './progress.js';
import { Sims } from './sims.js';
import { benchUnits, writeUnitFiles } from './units.js';

const HEARTBEAT_MS = 10_000;

export async function runFleet(o: {
  units: number;
  seconds: number;
  machine: { cpus: string; memory: string; node: string; uptime: string };
  logFile: string;
  /** the gateway's V8 old-space cap (`--max-old-space-size`); unset: Node's default, as `npm start` runs it */
  heapMb?: number;
  /** the gateway runs with --cpu-prof (and --heap-prof): its .cpuprofile/.heapprofile land here when it stops */
  profDir?: string;
}): Promise<{ ok: boolean; json: unknown; markdown: string }> {
  const units = benchUnits(o.units);
  const files = writeUnitFiles(units);
  const redis = await startRedis();
  const gw = await startGateway(await gatewayEnv({ redisUrl: redis.url, ...files }), o.logFile, [
    ...(o.heapMb ? [`--max-old-space-size=${o.heapMb}`] : []),
    ...(o.profDir ? ['--cpu-prof', '--cpu-prof-dir', o.profDir, '--heap-prof', '--heap-prof-dir', o.profDir] : []),
  ]);
  const progress = new Progress();
  let sims: Sims | null = null;
  try {
    const rssIdle = rssBytes(gw.pid);
    const t0 = performance.now();
    progress.start('connecting', 60, () => `RSS ${(rssBytes(gw.pid) / 2 ** 20).toFixed(0)} MB`);
    const started = await Sims.start({ brokerUrl: gw.mqttUrl, units, credentialsFile: files.credentialsFile, autopilotMs: 20, heartbeatMs: HEARTBEAT_MS });
    sims = started.sims;
    await waitOnline(gw, units.length, 120_000);
    const connectS = (performance.now() - t0) / 1000;
    progress.stop(`${units.length} units connected and online in ${connectS.toFixed(1)} s`);
    const rssConnected = rssBytes(gw.pid);
    // frame-485 status requests no board answered in time ("board did not answer"), while connecting and idle
    const busTimeouts = async () => (await metricsOf(gw, ['lg_bus_timeouts_total'])).lg_bus_timeouts_total ?? 0;
    const timeoutsConnecting = await busTimeouts();
    const cpu0 = cpuMs(gw.pid);
    const t1 = performance.now();
    let peak = rssConnected;
    progress.start('idle fleet', o.seconds, () => `RSS ${(rssBytes(gw.pid) / 2 ** 20).toFixed(0)} MB`);
    const timer = setInterval(() => (peak = Math.max(peak, rssBytes(gw.pid))), 500);
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    clearInterval(timer);
    progress.stop();
    const cpuPct = ((cpuMs(gw.pid) - cpu0) / (performance.now() - t1)) * 100;
    const rssEnd = rssBytes(gw.pid);
    const heapEnd = (await gw.redisCount()).heapUsed;
    const online = (await metricsOf(gw, ['lg_units_online'])).lg_units_online ?? 0;
    const timeoutsIdle = (await busTimeouts()) - timeoutsConnecting;
    const now = Date.now();
    const p = redis.admin.pipeline();
    for (const u of units) p.hget(`lg:unit:${u.id}`, 'lastSeen');
    const seen = ((await p.exec()) ?? []).map(([, v]) => Number(v));
    // json-v1 units send no heartbeat messages (MQTT keep-alive only reaches the broker): online is their sign of life
    const heard = units.filter((u) => u.dialect !== 'json-v1');
    const stale = units.filter((u, i) => u.dialect !== 'json-v1' && !(now - seen[i]! <= HEARTBEAT_MS * 2)).map((u) => u.id);
    const mb = (b: number) => b / 2 ** 20;
    const ok = started.connected === units.length && online === units.length && stale.length === 0 && mb(peak) <= 300;
    const json = {
      when: new Date().toISOString(),
      machine: o.machine,
      units: units.length,
      connectedBySims: started.connected,
      onlineForGateway: online,
      notHeardWithin: { ms: HEARTBEAT_MS * 2, units: stale.length, first: stale.slice(0, 5) },
      connectSeconds: connectS,
      gatewayRssMB: { beforeUnits: mb(rssIdle), connected: mb(rssConnected), end: mb(rssEnd), peak: mb(peak), target: 300 },
      gatewayHeapUsedMBAtEnd: mb(heapEnd),
      gatewayCpuPctIdleFleet: cpuPct,
      frame485BusTimeouts: { connecting: timeoutsConnecting, idle: timeoutsIdle },
      gatewayNodeOptions: o.heapMb ? `--max-old-space-size=${o.heapMb}` : '',
      seconds: o.seconds,
      ok,
    };
    const markdown = [
      `### npm run bench -- --fleet ${units.length}, ${json.when.replace(/\.\d+Z$/, 'Z')}`,
      '',
      `Machine: ${o.machine.cpus}, ${o.machine.memory}, Node ${o.machine.node} (\`uptime\`: ${o.machine.uptime}).`,
      '',
      '| | |',
      '|---|---|',
      `| units connected (simulators) / online for the gateway | ${started.connected} / ${online} of ${units.length} (all online ${connectS.toFixed(1)} s after the first connect) |`,
      `| heartbeats flow | ${stale.length === 0 ? 'yes' : 'NO'}: ${stale.length} of ${heard.length} compact-v2 and frame-485 units not heard from within ${(HEARTBEAT_MS * 2) / 1000} s at the end of ${o.seconds} s (json-v1 units send no heartbeat messages: their MQTT keep-alive keeps them online) |`,
      `| gateway RSS | **${mb(peak).toFixed(0)} MB peak** (target ≤ 300 MB): ${mb(rssIdle).toFixed(0)} MB before the units, ${mb(rssConnected).toFixed(0)} MB connected, ${mb(rssEnd).toFixed(0)} MB at the end (JS heap used ${mb(heapEnd).toFixed(0)} MB) |`,
      `| gateway CPU, idle fleet | ${cpuPct.toFixed(1)} % of a core (heartbeats, status polls, sweeps) |`,
      `| frame-485 "board did not answer" (\`lg_bus_timeouts_total\`) | ${timeoutsConnecting} while connecting, ${timeoutsIdle} in the ${o.seconds} s idle |`,
      `| gateway heap cap | ${o.heapMb ? `\`--max-old-space-size=${o.heapMb}\`` : "Node's default (as `npm start` runs it)"} |`,
      `| verdict | ${ok ? '**ok**' : '**NOT ok**'} |`,
      '',
    ].join('\n');
    return { ok, json, markdown };
  } finally {
    progress.stop();
    await sims?.stop().catch(() => {});
    await gw.stop().catch(() => {});
    await redis.stop().catch(() => {});
  }
}
