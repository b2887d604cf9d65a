/**
 * What the gateway's libraries cost alone: the CPU that ioredis, BullMQ, aedes + mqtt.js, Hono on @hono/node-server
 * and node:http spend per operation in the process that drives them, with none of the gateway's own code. Times
 * the counts a lifecycle makes (measured by `npm run bench`), that is the floor under the gateway's CPU per lifecycle
 * on this stack. Prints figures; never a test.
 *
 *   npx tsx bench/stack-floor.ts                 # ~1 minute
 *   npx tsx bench/stack-floor.ts --n 5000        # fewer operations per part
 *   npx tsx bench/stack-floor.ts --from bench/results/X.json   # and a lifecycle of that `npm run bench` run:
 *       its counts (Redis round trips and commands, messages to and from the units) times these costs, with
 *       --jobs 2 notification jobs (the resident's two texts; the property's two notices go to the console at once
 *       without a provider) and --texts 2
 *
 * Each part runs in this process against a peer in another (redis-server, MQTT units, an HTTP client or server), so
 * only this side's CPU is counted (process.cpuUsage, user + system), as the bench counts the gateway's:
 * - **Redis round trip**: one command sent alone and awaited (`GET`), one after the other;
 * - **Redis command in a pipeline**: 20 `HSET`/`HGET` per `exec()`, per command;
 * - **BullMQ job**: added (`addBulk`, two at a time, as the relay does) and run to completion by a Worker
 *   (concurrency 4, a processor that returns at once, completed jobs kept as the notifier keeps them);
 * - **MQTT message in + message out**: aedes on TCP for 30 units in another process, this process's mqtt.js client
 *   on it through an in-memory pair (as the gateway's own client); each unit publishes (QoS 1) and waits for the reply
 *   (QoS 1) before the next;
 * - **HTTP request served**: a Hono route that parses a JSON body and answers 201 JSON, on @hono/node-server, 32 in
 *   flight from another process;
 * - **HTTP request sent**: a POST of a JSON body with node:http and a keep-alive agent, as the notifier's provider
 *   client does, to a server in another process (the SMS provider's side).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Aedes } from 'aedes';
import { Queue, Worker } from 'bullmq';
import { Hono } from 'hono';
import { Pipeline, Redis } from 'ioredis';
import { MqttClient } from 'mqtt';
import { duplexPair } from '../src/broker/pair.js';
import { TestRedis } from '../test/support/redis.js';

const { values: opt } = parseArgs({
  options: { n: { type: 'string', default: '20000' }, from: { type: 'string' }, jobs: { type: 'string', default: '2' }, texts: { type: 'string', default: '2' } },
});
const N = Number(opt.n);

/** Commands this process sends through ioredis (BullMQ's included) and round trips, as bench/e2e/count-redis.mjs. */
const sent = { commands: 0, roundTrips: 0 };
{
  const proto = Redis.prototype as unknown as { sendCommand: (this: Redis, cmd: unknown, stream?: unknown) => unknown };
  const send = proto.sendCommand;
  proto.sendCommand = function (this: Redis, cmd: unknown, stream?: unknown) {
    sent.commands++;
    if (!stream) sent.roundTrips++;
    return send.call(this, cmd, stream);
  };
  const exec = Pipeline.prototype.exec;
  Pipeline.prototype.exec = function (this: Pipeline, ...args: Parameters<Pipeline['exec']>) {
    sent.roundTrips++;
    return exec.apply(this, args);
  };
}

/** CPU of this process (ms) while `fn` runs, per operation (µs). */
async function cpuPer(ops: number, fn: () => Promise<void>): Promise<number> {
  const t0 = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / ops;
}

function child(...args: string[]): { proc: ChildProcess; line: () => Promise<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', new URL('./stack-floor-child.ts', import.meta.url).pathname, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  const queue: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  rl.on('line', (l) => (waiters.length ? waiters.shift()!(l) : queue.push(l)));
  return { proc, line: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))) };
}

async function until(c: ReturnType<typeof child>, what: string): Promise<string[]> {
  const seen: string[] = [];
  for (let l = await c.line(); l !== what; l = await c.line()) seen.push(l);
  return seen;
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  return port;
}

const results: { part: string; us: number }[] = [];
const f1 = (x: number) => x.toFixed(1);
let perJob = { commands: NaN, roundTrips: NaN, serverCalls: NaN };

/** Every command Redis has run (INFO commandstats, commands run inside Lua scripts included), as the bench counts. */
async function serverCalls(r: Redis): Promise<number> {
  let n = 0;
  for (const m of (await r.info('commandstats')).matchAll(/calls=(\d+)/g)) n += Number(m[1]);
  return n;
}
const report = (part: string, us: number) => {
  results.push({ part, us });
  console.log(`${part.padEnd(34)} ${us.toFixed(1).padStart(7)} µs`);
};

const server = await new TestRedis().start();
try {
  // Redis: a command alone, and commands in a pipeline
  const r = new Redis(server.url);
  await r.set('floor:k', 'v'.repeat(100));
  for (let i = 0; i < 2000; i++) await r.get('floor:k'); // warm-up
  report('Redis round trip (a command alone)', await cpuPer(N, async () => {
    for (let i = 0; i < N; i++) await r.get('floor:k');
  }));
  const pipelines = Math.ceil(N / 20);
  report('Redis command in a pipeline of 20', await cpuPer(pipelines * 20, async () => {
    for (let i = 0; i < pipelines; i++) {
      const p = r.pipeline();
      for (let j = 0; j < 10; j++) p.hset(`floor:h${j}`, 'state', 'stored', 'at', String(i)).hget(`floor:h${j}`, 'state');
      await p.exec();
    }
  }));
  r.disconnect();

  // BullMQ: a job added and run to completion
  const jobs = Math.min(N, 5000) & ~1;
  const connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
  const queue = new Queue('floor', { connection, prefix: 'floor', defaultJobOptions: { removeOnComplete: { age: 7 * 24 * 3600 }, attempts: 5 } });
  let completed = 0;
  let allDone: () => void = () => {};
  const worker = new Worker('floor', async () => ({ result: 'sent' }), { connection, prefix: 'floor', concurrency: 4 });
  worker.on('completed', () => ++completed === jobs && allDone());
  await worker.waitUntilReady();
  const data = { jobId: 'x', route: 'sms', channel: 'sms', notice: { id: 'P1.stored', kind: 'stored', to: { sms: '13800000000', lang: 'zh' }, params: { unit: 'LSN-0001', compartment: 7, carrier: 'SF', tracking: 'SF1234567890', code: '123456' } } };
  const before = { ...sent };
  const admin = new Redis(server.url);
  const calls0 = await serverCalls(admin);
  report('BullMQ job (added, run, completed)', await cpuPer(jobs, async () => {
    const done = new Promise<void>((res) => (allDone = res));
    for (let i = 0; i < jobs; i += 2) await queue.addBulk([0, 1].map((k) => ({ name: 'stored', data, opts: { jobId: `j${i + k}` } })));
    await done;
  }));
  // BullMQ's own timers (stalled checks) run on: read at once, and leave out the INFO call itself
  const serverPerJob = ((await serverCalls(admin)) - calls0 - 1) / jobs;
  admin.disconnect();
  perJob = { commands: (sent.commands - before.commands) / jobs, roundTrips: (sent.roundTrips - before.roundTrips) / jobs, serverCalls: serverPerJob };
  console.log(`  (a job: ${perJob.commands.toFixed(1)} Redis commands in ${perJob.roundTrips.toFixed(1)} round trips, counted in the job's figure; Redis ran ${serverPerJob.toFixed(0)} commands for it, Lua's included)`);
  await worker.close();
  await queue.close();

  // MQTT: aedes for the units on TCP, this process's client through an in-memory pair
  const broker = await Aedes.createBroker();
  const net = createServer((s) => broker.handle(s));
  const mqttPort = await freePort();
  net.listen(mqttPort, '127.0.0.1');
  await once(net, 'listening');
  // the gateway's own client: one end of a duplex pair, aedes handles the other (src/broker/embedded.ts, connectLocal)
  const gw = new MqttClient(
    () => {
      const [brokerSide, clientSide] = duplexPair();
      broker.handle(brokerSide as never);
      return clientSide as never;
    },
    { clientId: 'floor-gateway', reconnectPeriod: 0, protocolVersion: 4 },
  );
  await new Promise((resolve) => gw.once('connect', resolve));
  await gw.subscribeAsync('floor/+/in', { qos: 1 });
  gw.on('message', (topic) => void gw.publish(topic.replace(/in$/, 'out'), '{"op":"open","compartment":7,"sig":"0123456789abcdef"}', { qos: 1 }));
  const units = 30;
  const rounds = Math.ceil(N / units);
  const u = child('units', `mqtt://127.0.0.1:${mqttPort}`, String(units), String(rounds));
  await until(u, 'ready');
  report('MQTT message in + message out', await cpuPer(units * rounds, async () => {
    u.proc.stdin!.write('go\n');
    await until(u, 'done');
  }));
  await gw.endAsync();
  await new Promise<void>((res) => broker.close(() => res()));
  net.close();

  // HTTP served: Hono on @hono/node-server
  const app = new Hono();
  app.post('/v1/deposits', async (c) => {
    const body = (await c.req.json()) as Record<string, unknown>;
    return c.json({ id: 'p-1', unit: body.unit, compartment: 7, state: 'reserved' }, 201);
  });
  const httpPort = await freePort();
  const http = serve({ fetch: app.fetch, port: httpPort, hostname: '127.0.0.1' });
  const h = child('http', `http://127.0.0.1:${httpPort}/v1/deposits`, String(N), '32');
  await until(h, 'ready');
  report('HTTP request served (Hono)', await cpuPer(N, async () => {
    h.proc.stdin!.write('go\n');
    await until(h, 'done');
  }));
  http.close();

  // HTTP sent: fetch to a receiver in another process
  const rc = child('receiver');
  const [url] = await until(rc, 'ready');
  const sends = Math.min(N, 10_000);
  const body = JSON.stringify({ to: '+8613800000000', text: '【里舍社区】您的包裹已到 LSN-0001 7 号格，取件码 123456', id: 'P1.stored.sms' });
  // node:http with a keep-alive agent, as the notifier's provider client (src/notify/channels/http.ts)
  const agent = new HttpAgent({ keepAlive: true });
  const post = (key: string) =>
    new Promise<void>((resolve, reject) => {
      const payload = Buffer.from(body);
      const req = httpRequest(url!, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'idempotency-key': key, 'content-length': payload.length } });
      req.once('error', reject);
      req.once('response', (res) => res.resume().once('end', resolve));
      req.end(payload);
    });
  for (let i = 0; i < 200; i++) await post(`w${i}`); // warm-up
  report('HTTP request sent (node:http, 4 at once)', await cpuPer(sends, async () => {
    let left = sends;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (left-- > 0) await post(`k${left}`);
      }),
    );
  }));
  agent.destroy();
  rc.proc.kill();
} finally {
  await server.stop();
}
const us = (part: string) => results.find((r) => r.part.startsWith(part))!.us;
if (opt.from) {
  // A lifecycle's counts from an `npm run bench` report: what its libraries cost at least, against what it cost.
  const b = JSON.parse(readFileSync(opt.from, 'utf8')) as {
    window: { gatewayCpuMsPerLifecycle: number; redis: { gatewayCommandsPerLifecycle: number; roundTripsPerLifecycle: number; serverCallsPerLifecycle: number } };
    gateway: { commandsPerLifecycle: Record<string, number> };
  };
  const jobs = Number(opt.jobs);
  const rt = b.window.redis.roundTripsPerLifecycle - jobs * perJob.roundTrips;
  const cmds = b.window.redis.gatewayCommandsPerLifecycle - jobs * perJob.commands;
  const c = b.gateway.commandsPerLifecycle;
  const toUnits = Object.entries(c).filter(([k]) => k !== 'messages from the units' && !k.startsWith('throttled')).reduce((a, [, n]) => a + n, 0);
  const messages = (c['messages from the units'] ?? NaN) + toUnits;
  const rows: [string, number, number][] = [
    ['Redis round trips (BullMQ\'s apart)', rt, us('Redis round trip')],
    ['Redis commands after the first of each round trip', cmds - rt, us('Redis command in a pipeline')],
    ['BullMQ jobs', jobs, us('BullMQ job')],
    [`MQTT messages (${f1(c['messages from the units'] ?? NaN)} in, ${f1(toUnits)} out), per pair`, messages / 2, us('MQTT message')],
    ['HTTP requests served', 1, us('HTTP request served')],
    ['HTTP requests to the SMS provider', Number(opt.texts), us('HTTP request sent')],
  ];
  console.log(`\nA lifecycle of ${opt.from} (${f1(b.window.gatewayCpuMsPerLifecycle)} ms of gateway-side CPU):`);
  let total = 0;
  for (const [what, n, each] of rows) {
    total += (n * each) / 1000;
    console.log(`  ${what.padEnd(58)} ${f1(n).padStart(6)} × ${each.toFixed(1).padStart(6)} µs = ${((n * each) / 1000).toFixed(2)} ms`);
  }
  console.log(`  the libraries alone: ${total.toFixed(2)} ms per lifecycle; the gateway's own code, its allocations and Node: the other ${(b.window.gatewayCpuMsPerLifecycle - total).toFixed(2)} ms`);
  const server = b.window.redis.serverCallsPerLifecycle;
  console.log(`  Redis ran ${f1(server)} commands per lifecycle; the ${jobs} BullMQ jobs ~${f1(jobs * perJob.serverCalls)} of them`);
}
console.log(JSON.stringify({ t: 'stack-floor', n: N, results, bullmqJob: perJob }));
process.exit(0);
