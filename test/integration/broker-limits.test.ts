/**
 * Attack "Broker memory" of issue 7: four connections announcing a 250 MB CONNECT raised the gateway from 335 MB to
 * over 1.1 GB. The embedded broker now bounds packet sizes before login and per principal, closes connections that
 * do not log in, and hands aedes a bounded number of packets at a time. Memory is measured on the real process
 * (`npm start`'s entry point in a child process, RSS from /proc).
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, Socket, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GuardedConnection } from '../../src/broker/guard.js';
import { UNITS } from '../../devices/units.js';
import { NpmStart } from '../support/npm-start.js';
import { freePort } from '../support/ports.js';
import { TestMosquitto } from '../support/mosquitto.js';
import { TestRedis } from '../support/redis.js';
import { credentials, eventually, Stack, unitLogin } from '../support/stack.js';

const MB = 1024 * 1024;
const JSON_UNIT = UNITS.find((u) => u.dialect === 'json-v1')!;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** MQTT remaining length. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** The start of a CONNECT announcing `announced` bytes: fixed header, MQTT 3.1.1 variable header, a client id. */
function connectHead(announced: number): Buffer {
  const variable = [0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0xff, 0xff];
  return Buffer.from([0x10, ...varint(announced), ...variable]);
}

/** Opens a connection, sends `head`, then up to `send` bytes of filler as fast as the peer takes them. */
async function attacker(port: number, head: Buffer, send: number): Promise<{ sent: number; closedAfterMs: number | null }> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  const t0 = Date.now();
  let closedAt: number | null = null;
  const closed = new Promise<void>((resolve) =>
    s.once('close', () => {
      closedAt = Date.now();
      resolve();
    }),
  );
  s.write(head);
  const filler = Buffer.alloc(MB, 0x41);
  let sent = 0;
  while (sent < send && closedAt === null) {
    const more = s.write(filler);
    sent += filler.length;
    if (!more) await Promise.race([new Promise((r) => s.once('drain', r)), closed]);
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
  s.destroy();
  return { sent, closedAfterMs: closedAt === null ? null : closedAt - t0 };
}

describe('the real process under hostile MQTT clients', () => {
  const redis = new TestRedis();
  let run: NpmStart;
  let pid = 0;
  let mqttPort = 0;
  const stderr = () => run.stderr;

  beforeAll(async () => {
    await redis.start();
    mqttPort = await freePort();
    // The built entry point, as `npm start` runs it (exec: the process measured is the gateway itself).
    run = new NpmStart(
      {
        PORT: String(await freePort()),
        MQTT_PORT: String(mqttPort),
        REDIS_URL: redis.url,
        SIMULATORS: 'off',
        MQTT_CONNECT_TIMEOUT_MS: '1000',
      },
      'exec node dist/src/runtime/node.js',
    );
    await run.ready();
    pid = run.proc.pid!;
  });

  afterAll(async () => {
    await run.stop();
    await redis.destroy();
  });

  it('four clients each announcing a 250 MB CONNECT are disconnected at once; memory stays bounded', async () => {
    const before = rssBytes(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
    let results: Awaited<ReturnType<typeof attacker>>[];
    try {
      // Each would send 100 MB of its 250 MB if it were let.
      results = await Promise.all([1, 2, 3, 4].map(() => attacker(mqttPort, connectHead(250 * MB), 100 * MB)));
    } finally {
      clearInterval(sampler);
    }
    if (process.env.TEST_PRINT_MEASUREMENTS) console.log({ beforeMB: before / MB, peakMB: peak / MB, results });
    expect(peak - before, `RSS from ${Math.round(before / MB)} MB to a peak of ${Math.round(peak / MB)} MB`).toBeLessThan(48 * MB);
    for (const r of results) {
      expect(r.closedAfterMs, 'closed by the broker').not.toBeNull();
      expect(r.sent).toBeLessThan(20 * MB); // what the kernel buffers took before the close arrived
    }
    await eventually(() => stderr().split('packet-too-large').length > 4, 5000, 'four refusals logged');
    expect(stderr()).toContain('mqtt connection closed by the guard');
  }, 60_000);

  it('a connection that never logs in is closed after MQTT_CONNECT_TIMEOUT_MS, silent or trickling its CONNECT', async () => {
    const [silent, trickling] = await Promise.all([
      attacker(mqttPort, Buffer.alloc(0), 0),
      // A CONNECT of 200 bytes of which only the first few ever arrive.
      attacker(mqttPort, connectHead(200), 0),
    ]);
    for (const r of [silent, trickling]) {
      expect(r.closedAfterMs).not.toBeNull();
      expect(r.closedAfterMs!).toBeGreaterThanOrEqual(900);
    }
    await eventually(() => stderr().includes('login-timeout'), 5000, 'the timeout logged');
  });

  it('afterwards a unit still logs in and stays', async () => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      ...unitLogin(JSON_UNIT),
    });
    await c.publishAsync(`lockers/${JSON_UNIT.id}/presence`, 'online', { qos: 1, retain: true });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});

describe('packet limits per principal, TCP_NODELAY, the in-process gateway', () => {
  const stack = new Stack('embedded', { MQTT_MAX_PACKET_BYTES: '4096', MQTT_GATEWAY_MAX_PACKET_BYTES: '131072' });
  const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
  beforeAll(() => stack.start());
  afterAll(async () => {
    await stack.stop();
    noDelay.mockRestore();
  });

  it('a unit is disconnected for a packet over its limit, the gateway may send more; lg_mqtt_refused_total counts it', async () => {
    const unit = await stack.connectAsUnit(JSON_UNIT.id);
    await unit.publishAsync(`lockers/${JSON_UNIT.id}/state`, 'x'.repeat(3000), { qos: 1 });
    unit.publish(`lockers/${JSON_UNIT.id}/state`, 'x'.repeat(5000), { qos: 1 }, () => undefined);
    await eventually(() => !unit.connected, 5000, 'the unit disconnected');
    expect(stack.gw!.counters.get('lg_mqtt_refused_total', { reason: 'packet-too-large' })).toBe(1);

    const spy = await stack.connectAsGateway();
    await spy.publishAsync(`lockers/${JSON_UNIT.id}/commands`, 'y'.repeat(100_000), { qos: 1 });
    expect(spy.connected).toBe(true);
  });

  it('the broker turns Nagle off on its sockets; the gateway reaches its own broker in memory, with no socket', async () => {
    const port = stack.gw!.broker!.port;
    const sockets = noDelay.mock.contexts as Socket[];
    const calls = noDelay.mock.calls;
    const on = (pred: (s: Socket) => boolean) => sockets.some((s, i) => pred(s) && calls[i]![0] === true);
    expect(on((s) => s.localPort === port), 'an accepted broker socket').toBe(true);
    expect(stack.gw!.bus.transport).toBe('in-process');
    expect(stack.gw!.bus.connected).toBe(true);
    // the gateway turns Nagle off on a client socket it has (see durability.test.ts, with Mosquitto); here it has none
    expect(on((s) => s.remotePort === port)).toBe(false);
  });
});

describe('packets handed to aedes at once (MQTT_MAX_INFLIGHT)', () => {
  /** A bare aedes whose authorizePublish takes 2 ms, counting how many PUBLISHes it has in hand at once. */
  async function maxConcurrentPublishes(guarded: boolean): Promise<number> {
    let inHand = 0;
    let max = 0;
    const aedes = await Aedes.createBroker({
      authenticate: (client, _u, _p, done) => {
        const conn: unknown = client.conn;
        if (conn instanceof GuardedConnection) conn.loggedIn('unit');
        done(null, true);
      },
      authorizePublish: (_c, _p, done) => {
        max = Math.max(max, ++inHand);
        setTimeout(() => {
          inHand--;
          done(null);
        }, 2);
      },
    });
    const limits = { maxPacketBytes: 16_384, gatewayMaxPacketBytes: 16_384, connectTimeoutMs: 5000, maxInflight: 8 };
    const server = createServer((s) => aedes.handle(guarded ? new GuardedConnection(s, limits, () => undefined) : s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { protocolVersion: 4, reconnectPeriod: 0 });
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => client.publishAsync('t/x', `m${i}`, { qos: 1 })));
    } finally {
      await client.endAsync();
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }
    return max;
  }

  it('a client pipelining 300 QoS 1 PUBLISHes has a bounded number of them in the broker at once; all are delivered', async () => {
    const unguarded = await maxConcurrentPublishes(false);
    const guarded = await maxConcurrentPublishes(true);
    if (process.env.TEST_PRINT_MEASUREMENTS) console.log({ guarded, unguarded });
    // aedes counts one extra batch when data arrives while it works, so the bound is twice the limit.
    expect(guarded, `guarded ${guarded}, unguarded ${unguarded}`).toBeLessThanOrEqual(16);
    expect(unguarded).toBeGreaterThan(16); // the measurement can tell the difference
  });
});

describe('Mosquitto with the generated config', () => {
  const mosquitto = new TestMosquitto();
  beforeAll(() => mosquitto.start({ credentials, units: UNITS }));
  afterAll(() => mosquitto.stop());

  it('disconnects a client whose packet is over max_packet_size (16 KiB), before and after login', async () => {
    const huge = await attacker(mosquitto.port, connectHead(250 * MB), 20 * MB);
    expect(huge.closedAfterMs).not.toBeNull();
    const unit = await mqtt.connectAsync(mosquitto.url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      ...unitLogin(JSON_UNIT),
    });
    unit.on('error', () => undefined);
    await unit.publishAsync(`lockers/${JSON_UNIT.id}/state`, 'x'.repeat(10_000), { qos: 1 });
    unit.publish(`lockers/${JSON_UNIT.id}/state`, 'x'.repeat(20_000), { qos: 1 }, () => undefined);
    await eventually(() => !unit.connected, 5000, 'the unit disconnected');
    await unit.endAsync(true);
  });
});
