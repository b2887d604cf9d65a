/**
 * The broker's authentication and topic ACLs, against real brokers with real mqtt.js clients (MQTT 3.1.1): the
 * embedded aedes broker and a Mosquitto configured by the operator's generator. The same scenarios run on both;
 * where the brokers enforce a refusal differently, the test says which way each one does it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../../src/config/credentials.js';
import type { UnitProfile } from '../../src/domain/model.js';
import type { Logger } from '../../src/log.js';
import { unitClientId, unitCommandTopic, unitPublishTopics } from '../../src/broker/acl.js';
import { unitLogin } from '../support/stack.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/broker/embedded.js';
import { TestMosquitto } from '../support/mosquitto.js';

const credentials = loadCredentials({ file: DEV_CREDENTIALS_FILE });
const NOT_ARRIVED_MS = 300;

const JSON_UNIT = UNITS.find((u) => u.dialect === 'json-v1')!;
const COMPACT_UNIT = UNITS.find((u) => u.dialect === 'compact-v2')!;
const FRAME_UNIT = UNITS.find((u) => u.dialect === 'frame-485')!;
const SN = JSON_UNIT.id; // LSN-0001
const MAC = COMPACT_UNIT.id; // a4c138f0e2d1
const IMEI = FRAME_UNIT.id; // 861234567890123

type LogRecord = { level: string; msg: string; fields: Record<string, unknown> };
function captureLogger(records: LogRecord[], base: Record<string, unknown> = {}): Logger {
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    records.push({ level, msg, fields: { ...base, ...fields } });
  };
  return {
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
    child: (f) => captureLogger(records, { ...base, ...f }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nonce = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

async function waitFor(what: string, cond: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Received = { topic: string; payload: string; retain: boolean };

const kinds = ['embedded', 'mosquitto'] as const;

describe.each(kinds)('broker ACLs: %s', (kind) => {
  let url = '';
  let embedded: EmbeddedBroker | null = null;
  let mosquitto: TestMosquitto | null = null;
  const logs: LogRecord[] = [];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    if (kind === 'embedded') {
      embedded = await startEmbeddedBroker({ port: 0, credentials, units: UNITS, logger: captureLogger(logs) });
      url = embedded.url;
    } else {
      mosquitto = await new TestMosquitto().start({ credentials, units: UNITS });
      url = mosquitto.url;
    }
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  });

  afterAll(async () => {
    await embedded?.close();
    await mosquitto?.stop();
    // Refusals are logged, passwords never.
    const all = JSON.stringify(logs);
    for (const pw of [credentials.gateway.password, ...Object.values(credentials.units).map((u) => u.password)]) {
      expect(all).not.toContain(pw);
    }
  });

  async function connect(opts: IClientOptions): Promise<MqttClient> {
    const c = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      clean: true,
      ...opts,
    });
    c.on('error', () => undefined); // a refused client may see ECONNRESET; the test checks what matters
    clients.push(c);
    return c;
  }

  const unitOpts = (u: UnitProfile): IClientOptions => unitLogin(u);
  const gatewayOpts = (): IClientOptions => ({
    clientId: `locker-gateway-${randomBytes(4).toString('hex')}`,
    username: credentials.gateway.username,
    password: credentials.gateway.password,
  });

  function collect(c: MqttClient): Received[] {
    const got: Received[] = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
    return got;
  }

  /** SUBSCRIBE one filter and return the SUBACK return code (0x80 = refused), whether or not mqtt.js calls it an error. */
  function subackCode(c: MqttClient, filter: string, qos: 0 | 1 = 1): Promise<number> {
    return new Promise((resolve, reject) => {
      c.subscribe(filter, { qos }, (err, granted, packet) => {
        const code = (packet as { granted?: number[] } | undefined)?.granted?.[0] ?? granted?.[0]?.qos;
        if (code === undefined) reject(err ?? new Error('no SUBACK'));
        else resolve(code);
      });
    });
  }

  /** A gateway that sees everything it may read. */
  async function observer(): Promise<{ client: MqttClient; got: Received[] }> {
    const client = await connect(gatewayOpts());
    const got = collect(client);
    await client.subscribeAsync(['lockers/#', 'cab/#', 'dtu/#'], { qos: 1 });
    return { client, got };
  }

  /** Proves the observer is live: a negative result from a dead observer would prove nothing. */
  async function assertObserverLive(obs: { client: MqttClient; got: Received[] }): Promise<void> {
    const ping = nonce('observer-ping');
    await obs.client.publishAsync(`lockers/${SN}/commands`, ping, { qos: 1 });
    await waitFor('observer to see its own command', () => obs.got.some((m) => m.payload === ping));
  }

  // (a)
  describe('connecting', () => {
    it.each([
      ['json-v1 unit, wrong password', { ...unitOpts(JSON_UNIT), password: 'wrong-password-0' }],
      ['frame-485 unit, another unit\'s password', { ...unitOpts(FRAME_UNIT), password: credentials.units[MAC]!.password }],
      ['gateway, wrong password', { ...gatewayOpts(), password: 'wrong-password-0' }],
      ['no user name', { clientId: 'anonymous-1' }],
      ['unknown user', { clientId: 'LSN-9999', username: 'LSN-9999', password: credentials.units[SN]!.password }],
    ] as Array<[string, IClientOptions]>)('%s: refused', async (_name, opts) => {
      const err = await connect(opts).then(
        () => null,
        (e: Error & { code?: number }) => e,
      );
      expect(err, 'connection should be refused').not.toBeNull();
      // CONNACK 4 (bad user name or password) from aedes, 5 (not authorised) from Mosquitto
      expect([4, 5]).toContain(err?.code);
    });

    it.each(UNITS.map((u) => [u.dialect, u] as const))('%s unit with its vendor client id: accepted', async (_d, u) => {
      const c = await connect(unitOpts(u));
      expect(c.connected).toBe(true);
    });

    it('several gateway instances at once (any client id)', async () => {
      const [a, b] = await Promise.all([connect(gatewayOpts()), connect(gatewayOpts())]);
      await sleep(50);
      expect(a.connected && b.connected).toBe(true);
    });

    if (kind === 'embedded') {
      it('a unit under another client id: refused', async () => {
        await expect(connect({ ...unitOpts(COMPACT_UNIT), clientId: MAC })).rejects.toMatchObject({ code: 4 });
        expect(logs).toContainEqual(
          expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ clientId: MAC, reason: 'wrong-client-id' }) }),
        );
      });
    } else {
      it('a unit under another client id: accepted (Mosquitto cannot bind client ids to users, docs/mosquitto.md)', async () => {
        const c = await connect({ ...unitOpts(COMPACT_UNIT), clientId: MAC });
        expect(c.connected).toBe(true);
      });
    }
  });

  // (b)
  describe('forged publishes never reach anyone', () => {
    const forgeries: Array<[string, UnitProfile | 'gateway', string]> = [
      ['json-v1 unit → another unit\'s topic', JSON_UNIT, `lockers/${MAC}/events`],
      ['json-v1 unit → its own commands', JSON_UNIT, `lockers/${SN}/commands`],
      ['compact-v2 unit → the DTU\'s bus (opens doors)', COMPACT_UNIT, `dtu/${IMEI}/tx`],
      ['frame-485 unit → another unit\'s downlink', FRAME_UNIT, `cab/${MAC}/down`],
      ['frame-485 unit → another unit\'s events', FRAME_UNIT, `lockers/${SN}/events`],
      ['gateway → a unit\'s events', 'gateway', `lockers/${SN}/events`],
      ['gateway → a unit\'s uplink', 'gateway', `cab/${MAC}/up`],
    ];
    const cases = forgeries.flatMap(([name, who, topic]) => ([0, 1] as const).map((qos) => [name, qos, who, topic] as const));

    it.each(cases)('%s, QoS %i', async (_name, qos, who, topic) => {
      const obs = await observer();
      const forger = await connect(who === 'gateway' ? gatewayOpts() : unitOpts(who));
      // For a command topic, its unit listens where the forged command would go (when that unit is the forger
      // itself, the same connection listens: a second one under its client id would take the first one over).
      let victimGot: Received[] = [];
      const victim = UNITS.find((u) => unitCommandTopic(u) === topic);
      if (victim) {
        const v = victim === who ? forger : await connect(unitOpts(victim));
        victimGot = collect(v);
        await v.subscribeAsync(topic, { qos: 1 });
      }

      const payload = nonce('forged');
      forger.publish(topic, payload, { qos }, () => undefined); // aedes never acks it: do not await
      await sleep(NOT_ARRIVED_MS);

      expect(obs.got.filter((m) => m.payload === payload)).toEqual([]);
      expect(victimGot.filter((m) => m.payload === payload)).toEqual([]);
      // aedes closes the connection of a client whose PUBLISH it refuses; Mosquitto acknowledges and drops it.
      if (kind === 'embedded') await waitFor('aedes to close the forger', () => !forger.connected);
      else expect(forger.connected).toBe(true);
      if (kind === 'embedded') {
        expect(logs).toContainEqual(
          expect.objectContaining({ level: 'warn', msg: 'mqtt publish refused', fields: expect.objectContaining({ clientId: forger.options.clientId, topic }) }),
        );
      }
      await assertObserverLive(obs);
    });
  });

  // (c)
  it('a unit subscribing beyond its own commands is refused and receives nothing', async () => {
    const unit = await connect(unitOpts(JSON_UNIT));
    const got = collect(unit);
    const filters = [`cab/${MAC}/down`, `dtu/${IMEI}/tx`, 'lockers/+/commands', `lockers/${SN}/#`, '#', `lockers/${MAC}/commands`];
    const codes: number[] = [];
    for (const f of filters) codes.push(await subackCode(unit, f));
    if (kind === 'embedded') {
      expect(codes).toEqual(filters.map(() => 128));
    } else {
      // Mosquitto 2.0's acl_file does not check SUBSCRIBE (it grants it) and checks `read` on every delivery.
      for (const c of codes) expect([1, 128]).toContain(c);
    }
    expect(await subackCode(unit, `lockers/${SN}/commands`)).toBe(1); // its own: granted

    const gw = await connect(gatewayOpts());
    const payloads: string[] = [];
    for (const topic of [`cab/${MAC}/down`, `dtu/${IMEI}/tx`, `lockers/XYZ-0002/commands`]) {
      const p = nonce('not-for-you');
      payloads.push(p);
      await gw.publishAsync(topic, p, { qos: 1 });
    }
    const own = nonce('for-you');
    await gw.publishAsync(`lockers/${SN}/commands`, own, { qos: 1 });
    await waitFor('its own command', () => got.some((m) => m.payload === own));
    await sleep(NOT_ARRIVED_MS);
    expect(got.filter((m) => payloads.includes(m.payload))).toEqual([]);
    expect(unit.connected).toBe(true);
  });

  it('the gateway may not subscribe to everything', async () => {
    const gw = await connect(gatewayOpts());
    const got = collect(gw);
    const code = await subackCode(gw, '#');
    if (kind === 'embedded') expect(code).toBe(128);
    else expect([0, 1, 128]).toContain(code); // granted by Mosquitto, but only `read` topics are delivered
    const other = await connect(gatewayOpts());
    await other.publishAsync(`lockers/${SN}/commands`, nonce('x'), { qos: 1 }); // readable by the gateway anyway
    await sleep(NOT_ARRIVED_MS);
    for (const m of got) expect(m.topic).toMatch(/^(lockers|cab|dtu)\//);
  });

  it(`$share for the gateway: ${kind === 'embedded' ? 'refused (aedes has no shared subscriptions)' : 'granted and delivered'}`, async () => {
    const gw = await connect(gatewayOpts());
    const got = collect(gw);
    const code = await subackCode(gw, '$share/gw/cab/+/up');
    if (kind === 'embedded') {
      expect(code).toBe(128);
      return;
    }
    expect(code).toBe(1);
    const unit = await connect(unitOpts(COMPACT_UNIT));
    const p = nonce('shared');
    await unit.publishAsync(`cab/${MAC}/up`, p, { qos: 1 });
    await waitFor('the shared subscription to deliver', () => got.some((m) => m.payload === p));
  });

  // (d)
  it.each(UNITS.map((u) => [u.dialect, u] as const))('%s: the gateway\'s command reaches the unit', async (_d, u) => {
    const unit = await connect(unitOpts(u));
    const got = collect(unit);
    expect(await subackCode(unit, unitCommandTopic(u))).toBe(1);
    const gw = await connect(gatewayOpts());
    const p = nonce('command');
    await gw.publishAsync(unitCommandTopic(u), p, { qos: 1 });
    await waitFor('the command', () => got.some((m) => m.topic === unitCommandTopic(u) && m.payload === p));
  });

  // (e)
  it.each(UNITS.map((u) => [u.dialect, u] as const))('%s: the unit\'s own messages reach the gateway', async (_d, u) => {
    const obs = await observer();
    const unit = await connect(unitOpts(u));
    const sent: Array<[string, string]> = [];
    for (const topic of unitPublishTopics(u)) {
      const p = nonce('uplink');
      sent.push([topic, p]);
      await unit.publishAsync(topic, p, { qos: 1 });
    }
    await waitFor('every uplink', () => sent.every(([t, p]) => obs.got.some((m) => m.topic === t && m.payload === p)));
    expect(unit.connected).toBe(true);
  });

  // (f)
  const wills: Array<[string, UnitProfile, string]> = [
    ['json-v1 presence', JSON_UNIT, `lockers/${SN}/presence`],
    ['compact-v2 uplink', COMPACT_UNIT, `cab/${MAC}/up`],
    ['frame-485 state', FRAME_UNIT, `dtu/${IMEI}/state`],
  ];
  it.each(wills)('%s: a unit\'s last will on its own topic is delivered when it drops', async (_n, u, topic) => {
    const obs = await observer();
    const payload = nonce('offline');
    const unit = await connect({
      ...unitOpts(u),
      clean: u.dialect !== 'json-v1', // json-v1 keeps a persistent session
      keepalive: 30,
      will: { topic, payload: Buffer.from(payload), qos: 1, retain: true },
    });
    unit.stream.destroy(); // drop without DISCONNECT
    await waitFor('the will', () => obs.got.some((m) => m.topic === topic && m.payload === payload));
    // retained: a gateway that starts later still learns the unit is offline
    const late = await connect(gatewayOpts());
    const lateGot = collect(late);
    await late.subscribeAsync(topic, { qos: 1 });
    await waitFor('the retained will', () => lateGot.some((m) => m.payload === payload && m.retain));
  });

  it.each([
    ['json-v1 unit, will on the DTU bus', JSON_UNIT, `dtu/${IMEI}/tx`],
    ['compact-v2 unit, will marking another unit offline', COMPACT_UNIT, `lockers/${SN}/presence`],
    ['json-v1 unit, will on its own commands', JSON_UNIT, `lockers/${SN}/commands`],
  ] as Array<[string, UnitProfile, string]>)('%s: never delivered', async (_n, u, topic) => {
    const obs = await observer();
    const payload = nonce('forged-will');
    const unit = await connect({ ...unitOpts(u), will: { topic, payload: Buffer.from(payload), qos: 1, retain: false } }).catch(
      () => null, // refusing the CONNECT would be fine too
    );
    unit?.stream.destroy();
    await sleep(NOT_ARRIVED_MS);
    expect(obs.got.filter((m) => m.payload === payload)).toEqual([]);
    if (kind === 'embedded' && unit) {
      expect(logs).toContainEqual(
        expect.objectContaining({ level: 'warn', msg: 'mqtt publish refused', fields: expect.objectContaining({ clientId: unitClientId(u), topic }) }),
      );
    }
    await assertObserverLive(obs);
  });

  // (g)
  if (kind === 'embedded') {
    describe('embedded broker lifecycle', () => {
      let blocker: Server | null = null;
      afterEach(async () => {
        const b = blocker;
        blocker = null;
        if (b) await new Promise<void>((r) => b.close(() => r()));
      });

      it('port 0 picks a free port; clients() counts connections; close() resolves', async () => {
        const b = await startEmbeddedBroker({ port: 0, credentials, units: UNITS, logger: captureLogger([]) });
        try {
          expect(b.port).toBeGreaterThan(0);
          expect(b.url).toBe(`mqtt://127.0.0.1:${b.port}`);
          const c = await mqtt.connectAsync(b.url, { protocolVersion: 4, reconnectPeriod: 0, ...unitOpts(FRAME_UNIT) });
          clients.push(c);
          c.on('error', () => undefined);
          await waitFor('the client to count', () => b.clients() === 1);
        } finally {
          await b.close();
        }
        await b.close(); // twice is fine
      });

      it('a taken port fails with a message naming MQTT_PORT and MQTT_URL', async () => {
        const srv = createServer();
        blocker = srv;
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
        const port = (srv.address() as { port: number }).port;
        await expect(
          startEmbeddedBroker({ host: '127.0.0.1', port, credentials, units: UNITS, logger: captureLogger([]) }),
        ).rejects.toThrow(
          `MQTT_PORT ${port} on 127.0.0.1 is already in use (is Mosquitto or another broker running?). ` +
            'Set MQTT_PORT to a free port, or set MQTT_URL to use that broker instead.',
        );
      });
    });
  }
});
