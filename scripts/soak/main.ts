/**
 * `npm run soak`: parcel lifecycles across the three simulated units while faults are injected at seeded random
 * times (docs/reliability.md). Real redis-server (AOF), real Mosquitto, the gateway as `npm start` runs it, the
 * simulators in a process of their own, a real HTTP receiver for SMS and webhooks. At the end, with faults stopped
 * and the system settled, the invariants are checked and a report written (Markdown + JSON). Exit code 0 when every
 * invariant holds, 1 when one is broken, 2 when the soak could not run.
 *
 *   npm run soak -- [--lifecycles N | --minutes M] [--seed S] [--concurrency C] [--faults all|none|kind,kind...]
 *                   [--fault-scale X] [--first-within SECONDS] [--out BASE] [--appendfsync everysec|always]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../../src/config/credentials.js';
import { seededRandom } from '../../simulators/common.js';
import { allParcels, check, invariants, missingNotices } from './check.js';
import { FAULT_KINDS, FaultInjector, type FaultKind } from './faults.js';
import { Ledger, type Outcome } from './ledger.js';
import { lifecycle, type World } from './lifecycle.js';
import { GatewayProc, MosquittoProc, RedisProc, freePort, sleep, type Fsync } from './procs.js';
import { Progress, machine, writeReport, type SoakReport } from './report.js';
import { Receiver } from './receiver.js';
import { Sims } from './sims.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PREFIX = 'lg:';
const DEPOSIT_WINDOW_MS = 20_000;

class UsageError extends Error {}

interface Options {
  lifecycles: number | null;
  minutes: number | null;
  seed: number;
  concurrency: number;
  faults: FaultKind[];
  faultScale: number;
  firstWithinMs: number;
  out: string;
  fsync: Fsync;
  replayRate: number;
  settleS: number;
  /** keep starting lifecycles past --lifecycles until every fault kind was injected at least once */
  everyFault: boolean;
  /** keep the data directory (Redis AOF, Mosquitto config) for a look afterwards */
  keep: boolean;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      lifecycles: { type: 'string' },
      minutes: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string', default: '6' },
      faults: { type: 'string', default: 'all' },
      'fault-scale': { type: 'string', default: '1' },
      'first-within': { type: 'string', default: '60' },
      out: { type: 'string', default: 'soak-report' },
      appendfsync: { type: 'string', default: 'everysec' },
      'replay-rate': { type: 'string', default: '0.05' },
      settle: { type: 'string', default: '300' },
      'every-fault': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: npm run soak -- [--lifecycles N | --minutes M] [--seed S] [--concurrency C] [--faults all|none|${FAULT_KINDS.join(',')}]
       [--fault-scale X (gaps between faults ×X)] [--first-within SECONDS] [--out BASE (BASE.md, BASE.json)] [--appendfsync everysec|always]
       [--replay-rate P] [--settle SECONDS] [--every-fault (go on until each fault kind happened once)] [--keep (keep the data directory)]`);
    process.exit(0);
  }
  const num = (name: string, v: string | undefined, min: number, max: number): number | null => {
    if (v === undefined) return null;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name}: a number from ${min} to ${max} expected, got "${v}"`);
    return n;
  };
  const lifecycles = num('lifecycles', values.lifecycles, 1, 10_000_000);
  const minutes = num('minutes', values.minutes, 0.1, 100_000);
  if (lifecycles === null && minutes === null) throw new UsageError('give --lifecycles N or --minutes M');
  let faults: FaultKind[];
  if (values.faults === 'all') faults = [...FAULT_KINDS];
  else if (values.faults === 'none') faults = [];
  else {
    faults = values.faults.split(',').map((s) => s.trim()).filter(Boolean) as FaultKind[];
    const bad = faults.filter((k) => !FAULT_KINDS.includes(k));
    if (bad.length) throw new UsageError(`--faults: unknown ${bad.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
  }
  if (values.appendfsync !== 'everysec' && values.appendfsync !== 'always') throw new UsageError('--appendfsync: everysec or always');
  return {
    lifecycles: lifecycles === null ? null : Math.floor(lifecycles),
    minutes,
    seed: Math.floor(num('seed', values.seed, 0, 2 ** 31) ?? Math.floor(Math.random() * 1e9)),
    concurrency: Math.floor(num('concurrency', values.concurrency, 1, 200)!),
    faults,
    faultScale: num('fault-scale', values['fault-scale'], 0.001, 1000)!,
    firstWithinMs: num('first-within', values['first-within'], 0, 86_400)! * 1000,
    out: values.out,
    fsync: values.appendfsync,
    replayRate: num('replay-rate', values['replay-rate'], 0, 1)!,
    settleS: num('settle', values.settle, 10, 86_400)!,
    everyFault: values['every-fault'],
    keep: values.keep,
  };
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = options(process.argv.slice(2));
  } catch (err) {
    console.error(`soak: ${(err as Error).message}`);
    return 2;
  }
  const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const startedAt = Date.now();
  const progress = new Progress(startedAt);
  const notes: string[] = [];
  const say = (m: string) => progress.say(m);
  const dir = mkdtempSync(join(tmpdir(), 'lg-soak-'));
  const credentials = loadCredentials({ file: DEV_CREDENTIALS_FILE });
  const codeKey = Buffer.from(credentials.gateway.codeKeyHex!, 'hex');
  const rng = seededRandom(o.seed);

  const redis = new RedisProc(await freePort(), join(dir, 'redis'), o.fsync);
  const mosquitto = new MosquittoProc(await freePort(), join(dir, 'mosquitto'), credentials, UNITS);
  const receiver = new Receiver(seededRandom(o.seed + 1));
  const gwPort = await freePort();
  const gateway = new GatewayProc(ROOT, {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    PORT: String(gwPort),
    REDIS_PREFIX: PREFIX,
    SIMULATORS: 'off',
    MQTT_CLIENT_ID: 'gw-soak',
    QUIET_HOURS: 'off',
    REMINDER_HOURS: 'off',
    SMS_RATE_PER_S: '500',
    WEBHOOK_RATE_PER_S: '500',
    // The receiver's faults come every few seconds for the whole run (far denser than a provider's outages): with
    // the defaults' 10 attempts a notice could fail them all and wait in the failure list for staff (4 did in one CI
    // run). Retries every 5 s at most, 50 of them, outlast the faults; what the soak checks is that none is lost.
    NOTIFY_ATTEMPTS: '50',
    NOTIFY_BACKOFF_MS: '500',
    NOTIFY_BACKOFF_MAX_MS: '5000',
    POLL_INTERVAL_MS: '1000',
    SNAPSHOT_SETTLE_MS: '500',
    COMMAND_TIMEOUT_MS: '5000',
    DEPOSIT_OPEN_TIMEOUT_MS: String(DEPOSIT_WINDOW_MS),
    INTENT_TIMEOUT_MS: '30000',
    // the soak's people are many and fast: the door-open limits would throttle them, not protect anything
    OPEN_RATE_PER_UNIT_PER_MIN: '100000',
    OPEN_RATE_FLEET_PER_MIN: '100000',
    LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN: '100000',
    LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN: '100000',
    // old codes typed again are wrong codes: keep them from locking the keypads for everybody
    LOCKOUT_ATTEMPTS: '100',
    LOCKOUT_WINDOW_MS: '60000',
    LOCKOUT_MS: '5000',
    EVIDENCE_CHECKPOINT_S: '10',
    // the replay guard lets a unit take ~62 (compact-v2) signed commands per COMMAND_TTL_S + COMMAND_CLOCK_SKEW_S
    // (README): short windows, so that many people at once get their doors rather than `busy`
    COMMAND_TTL_S: '5',
    COMMAND_CLOCK_SKEW_S: '2',
  });
  let sims: Sims | null = null;
  let client: Redis | null = null;
  const kills: number[] = [];
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    say('stopping: no new lifecycles; the ones under way finish, then faults stop, the system settles and is checked');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await redis.start();
    await mosquitto.start();
    await receiver.start();
    Object.assign(gateway.env, {
      REDIS_URL: redis.url,
      MQTT_URL: mosquitto.url,
      SMS_URL: `${receiver.url}/sms`,
      PROPERTY_WEBHOOK_URL: `${receiver.url}/property`,
      PROPERTY_WEBHOOK_SECRET: 'soak-property-webhook-secret',
    });
    gateway.logFile = `${o.out}.gateway.log`;
    writeFileSync(gateway.logFile, '');
    await gateway.start();
    sims = new Sims(mosquitto.url, o.seed);
    await sims.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    client.on('error', () => {});
    const end = Date.now() + 60_000;
    for (;;) {
      const online = await Promise.all(UNITS.map((u) => client!.hget(`${PREFIX}unit:${u.id}`, 'online')));
      if (online.every((x) => x === '1')) break;
      if (Date.now() > end) throw new Error(`units not online after 60 s: ${online.join(',')}`);
      await sleep(200);
    }
    const res = await fetch(`${gateway.url}/v1/admin/couriers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DEV_STAFF_TOKEN}` },
      body: JSON.stringify({ name: 'Soak Courier', carrier: 'SF', webhookUrl: `${receiver.url}/courier`, webhookSecret: 'soak-courier-webhook-secret' }),
    });
    const courier = (await res.json()) as { token?: string };
    if (res.status !== 201 || !courier.token) throw new Error(`courier not created: ${res.status} ${JSON.stringify(courier)}`);

    const ledger = new Ledger();
    const gatewayKills: number[] = [];
    const injector = new FaultInjector({ rng: seededRandom(o.seed + 2), sims, receiver, redis, mosquitto, gateway, ledger, log: say, gatewayKills }, o.faults, o.faultScale, o.firstWithinMs);
    // A process that dies by itself is a finding: noted, and started again.
    for (const p of [gateway, redis, mosquitto]) {
      p.onUnexpectedExit = () => {
        notes.push(`${p.name} exited by itself at ${new Date().toISOString()}: ${p.output.slice(-500).replace(/\s+/g, ' ')}`);
        say(`${p.name} exited by itself; starting it again`);
        void (async () => {
          for (let i = 0; i < 30; i++) {
            try {
              await p.start();
              return;
            } catch {
              await p.kill();
              await sleep(1000);
            }
          }
        })();
      };
    }
    const world: World = {
      gwUrl: gateway.url,
      courierToken: courier.token,
      sims,
      receiver,
      redis: client,
      prefix: PREFIX,
      rng,
      ledger,
      depositWindowMs: DEPOSIT_WINDOW_MS,
      replayRate: o.replayRate,
      log: say,
    };

    // ---- the run ----
    injector.start();
    const runUntil = o.minutes !== null ? startedAt + o.minutes * 60_000 : Infinity;
    let started = 0;
    let done = 0;
    const running = new Set<Promise<unknown>>();
    const faultsSoFar = () => Object.values(injector.counts).reduce((a, b) => a + b, 0);
    const ticker = setInterval(() => progress.show({ done, total: o.lifecycles, running: running.size, faults: faultsSoFar(), phase: stopRequested ? 'stopping' : 'running' }), 500);
    const everyOnce = () => !o.everyFault || o.faults.every((k) => injector.counts[k] > 0);
    const more = () => !stopRequested && Date.now() < runUntil && (o.lifecycles === null || started < o.lifecycles || !everyOnce());
    while (more() || running.size) {
      while (more() && running.size < o.concurrency) {
        const p = lifecycle(world, started++).finally(() => {
          running.delete(p);
          done++;
        });
        running.add(p);
      }
      await Promise.race([...running, sleep(1000)]);
    }
    clearInterval(ticker);

    // ---- settle ----
    progress.show({ done, total: o.lifecycles, running: 0, faults: faultsSoFar(), phase: 'faults stopping' });
    await injector.stop();
    kills.push(...gatewayKills);
    const settleEnd = Date.now() + o.settleS * 1000;
    let missing: string[] = [];
    let transient: number;
    for (;;) {
      missing = await missingNotices(client, PREFIX, receiver);
      transient = (await allParcels(client, PREFIX)).filter((p) => ['reserved', 'depositing', 'collecting'].includes(p.state)).length;
      progress.show({ done, total: o.lifecycles, running: 0, faults: faultsSoFar(), phase: `settling: ${missing.length} notices, ${transient} parcels half-way` });
      if ((!missing.length && !transient) || Date.now() > settleEnd) break;
      await sleep(2000);
    }
    await sleep(3000); // room for a late duplicate to show up
    progress.end();

    // ---- check and report ----
    const findings = await check({ redis: client, prefix: PREFIX, ledger, sims, receiver, codeKey, kills: [...kills, ...injector.redisKills] });
    const inv = invariants(findings);
    const byOutcome: Partial<Record<Outcome, number>> = {};
    for (const l of ledger.lives) byOutcome[l.outcome] = (byOutcome[l.outcome] ?? 0) + 1;
    if (receiver.keyless.length) notes.push(`${receiver.keyless.length} deliveries without an Idempotency-Key`);
    if (injector.startFailures.length) notes.push(`process starts that failed and were retried: ${injector.startFailures.length} (first: ${injector.startFailures[0]})`);
    const report: SoakReport = {
      ok: Object.values(inv).every(Boolean),
      seed: o.seed,
      startedAt: new Date(startedAt).toISOString(),
      minutes: Math.round((Date.now() - startedAt) / 600) / 100,
      settings: { lifecycles: o.lifecycles, minutes: o.minutes, concurrency: o.concurrency, faults: o.faults, faultScale: o.faultScale, appendfsync: o.fsync, replayRate: o.replayRate, gatewayEnv: Object.fromEntries(Object.entries(gateway.env).filter(([k]) => !['PATH', 'HOME'].includes(k))) },
      machine: machine(loadAtStart),
      lifecycles: {
        total: ledger.lives.length,
        byOutcome,
        depositAttempts: ledger.lives.reduce((n, l) => n + l.depositAttempts, 0),
        openFailed: ledger.lives.reduce((n, l) => n + l.openFailed, 0),
        codesTyped: ledger.lives.reduce((n, l) => n + l.codeTypes, 0),
      },
      faults: injector.counts,
      receiver: receiver.answers,
      processes: { gatewayStarts: gateway.starts, gatewayExitedByItself: gateway.exitedByItself, startFailures: injector.startFailures },
      figures: {
        parcelsLost: findings.parcelsLost.length + findings.pickupsNotRecorded.length,
        duplicates: findings.notices.duplicates.length,
        doubleAssignments: findings.doubleAssignments.length,
        doorsOpenedTwice: findings.doorsOpenedTwice.deposit.length + findings.doorsOpenedTwice.pickup.length + findings.doorsOpenedTwice.afterCollection.length,
        chainVerified: findings.chain.ok,
      },
      invariants: inv,
      findings,
      unfinished: ledger.lives.filter((l) => l.outcome !== 'collected'),
      notes,
    };
    const files = writeReport(report, o.out);
    console.log(`soak: ${report.ok ? 'all invariants hold' : 'INVARIANTS BROKEN'}: ${report.lifecycles.total} lifecycles, ${faultsSoFar()} faults, ` +
      `${report.figures.parcelsLost} parcels lost, ${report.figures.duplicates} duplicates, ${report.figures.doubleAssignments} double assignments, ` +
      `chain ${report.figures.chainVerified ? 'verified' : 'BROKEN'}; report in ${files.md} and ${files.json}`);
    for (const [k, ok] of Object.entries(inv)) if (!ok) console.log(`  broken: ${k}`);
    return report.ok ? 0 : 1;
  } catch (err) {
    progress.end();
    console.error(`soak could not run: ${(err as Error).stack ?? String(err)}`);
    console.error(`--- gateway output ---\n${gateway.output.slice(-3000)}`);
    return 2;
  } finally {
    client?.disconnect();
    await sims?.stop();
    await gateway.stop();
    await receiver.stop();
    await mosquitto.stop();
    await redis.stop();
    if (o.keep) console.log(`soak: data kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
