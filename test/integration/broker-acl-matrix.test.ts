/**
 * Attack "Broker ACLs" of issue 7: the whole matrix, as tables, against the embedded broker and against Mosquitto
 * with the generated config. Every principal (anonymous, the gateway, each unit) × connecting, publishing to every
 * unit's topics (uplink and `commands`/`down`/`tx`), subscribing to `#`, `$SYS/#` and every unit's topics, and
 * taking over another's client id. What a broker cannot enforce (Mosquitto cannot bind client ids to users) is
 * stated in the table, as the residual risk docs/mosquitto.md and docs/security.md describe.
 * broker.test.ts keeps the finer points (will messages, QoS 0 and 1, SUBACK codes, logs).
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { unitClientId, unitCommandTopic, unitPublishTopics } from '../../src/broker/acl.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/broker/embedded.js';
import type { UnitProfile } from '../../src/domain/model.js';
import { silentLogger } from '../../src/log.js';
import { TestMosquitto } from '../support/mosquitto.js';
import { credentials } from '../support/stack.js';

const [JSON_UNIT, COMPACT_UNIT, FRAME_UNIT] = UNITS as [UnitProfile, UnitProfile, UnitProfile];
type Who = 'anonymous' | 'gateway' | UnitProfile;
const whoName = (w: Who) => (typeof w === 'string' ? w : `${w.dialect} unit`);
const nonce = () => randomBytes(6).toString('hex');
const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/** Every topic a unit publishes, and every device-bound topic: the whole topic space of the three units. */
const UPLINKS = UNITS.flatMap((u) => unitPublishTopics(u).map((t) => ({ topic: t, owner: u })));
const DOWNLINKS = UNITS.map((u) => ({ topic: unitCommandTopic(u), owner: u }));

/** Who may publish where (acl.ts): a unit its own uplink topics, the gateway the device-bound ones. */
function mayPublish(who: Who, topic: string): boolean {
  if (who === 'anonymous') return false;
  if (who === 'gateway') return DOWNLINKS.some((d) => d.topic === topic);
  return unitPublishTopics(who).includes(topic);
}

/** Who receives what: a unit its own command topic, the gateway every unit topic. */
function mayRead(who: Who, topic: string): boolean {
  if (who === 'anonymous') return false;
  if (who === 'gateway') return true;
  return unitCommandTopic(who) === topic;
}

describe.each(['embedded', 'mosquitto'] as const)('broker ACL matrix: %s', (kind) => {
  let url = '';
  let embedded: EmbeddedBroker | null = null;
  let mosquitto: TestMosquitto | null = null;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    if (kind === 'embedded') {
      embedded = await startEmbeddedBroker({ port: 0, credentials, units: UNITS, logger: silentLogger });
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
  });

  function options(who: Who, clientId?: string): IClientOptions {
    if (who === 'anonymous') return { clientId: clientId ?? `anon-${nonce()}` };
    if (who === 'gateway') {
      return { clientId: clientId ?? `locker-gateway-${nonce()}`, username: credentials.gateway.username, password: credentials.gateway.password };
    }
    return { clientId: clientId ?? unitClientId(who), username: who.id, password: credentials.units[who.id]!.password };
  }

  async function connect(who: Who, clientId?: string): Promise<MqttClient> {
    const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, clean: true, ...options(who, clientId) });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  }

  const refused = (who: Who, clientId?: string) =>
    connect(who, clientId).then(
      () => false,
      () => true,
    );

  /** The gateway reading every unit topic: sees what reaches the gateway side. */
  async function observer(): Promise<Map<string, string>> {
    const got = new Map<string, string>();
    const c = await connect('gateway');
    c.on('message', (topic, payload) => got.set(payload.toString(), topic));
    await c.subscribeAsync(['lockers/#', 'cab/#', 'dtu/#'], { qos: 1 });
    return got;
  }

  // ------------------------------------------------------------------ connecting

  it.each([
    { name: 'anonymous', who: 'anonymous' as Who, clientId: undefined, refused: true },
    { name: "anonymous under a unit's client id", who: 'anonymous' as Who, clientId: unitClientId(JSON_UNIT), refused: true },
    { name: 'the gateway', who: 'gateway' as Who, clientId: undefined, refused: false },
    ...UNITS.map((u) => ({ name: `${u.dialect} unit under its vendor client id`, who: u as Who, clientId: undefined, refused: false })),
  ])('connect: $name (refused: $refused)', async ({ who, clientId, refused: expectRefused }) => {
    expect(await refused(who, clientId)).toBe(expectRefused);
  });

  it('connect: wrong passwords and unknown users are refused', async () => {
    const wrong = (opts: IClientOptions) =>
      mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...opts }).then(
        (c) => (clients.push(c), false),
        () => true,
      );
    expect(await wrong({ ...options(JSON_UNIT), password: 'wrong-password-0' })).toBe(true);
    expect(await wrong({ ...options('gateway'), password: 'wrong-password-0' })).toBe(true);
    expect(await wrong({ ...options(FRAME_UNIT), password: credentials.units[COMPACT_UNIT.id]!.password })).toBe(true);
    expect(await wrong({ clientId: 'LSN-9999', username: 'LSN-9999', password: 'x' })).toBe(true);
  });

  // ------------------------------------------------------------------ client-id takeover

  /** [name, principal, the victim whose client id it uses, refused by embedded, refused by Mosquitto] */
  const takeovers: [string, Who, 'unit' | 'gateway', boolean, boolean][] = [
    ['another unit\'s credentials, the json-v1 unit\'s client id', COMPACT_UNIT, 'unit', true, false],
    ['the gateway\'s credentials, the json-v1 unit\'s client id', 'gateway', 'unit', true, false],
    ['a unit\'s credentials, the running gateway\'s client id', FRAME_UNIT, 'gateway', true, false],
    ['no credentials, the json-v1 unit\'s client id', 'anonymous', 'unit', true, true],
  ];
  it.each(takeovers)('client-id takeover: %s', async (_name, who, victimKind, embeddedRefuses, mosquittoRefuses) => {
    const victimId = victimKind === 'unit' ? unitClientId(JSON_UNIT) : `locker-gateway-${nonce()}`;
    const victim = await connect(victimKind === 'unit' ? JSON_UNIT : 'gateway', victimId);
    const isRefused = await refused(who, victimId);
    const expected = kind === 'embedded' ? embeddedRefuses : mosquittoRefuses;
    expect(isRefused).toBe(expected);
    await settle(200);
    // Refused: the victim keeps its connection. Accepted (Mosquitto, documented): the victim is cut off.
    expect(victim.connected).toBe(expected);
  });

  // ------------------------------------------------------------------ publishing

  const publishers: Who[] = ['gateway', ...UNITS];
  it.each(publishers.map((w) => [whoName(w), w] as const))('publish: %s, to every unit topic', async (_n, who) => {
    const got = await observer();
    const sent = new Map<string, string>(); // nonce -> topic
    for (const { topic } of [...UPLINKS, ...DOWNLINKS]) {
      // A connection per attempt: the embedded broker closes the connection of a refused PUBLISH.
      const c = await connect(who);
      const n = nonce();
      sent.set(n, topic);
      if (mayPublish(who, topic)) await c.publishAsync(topic, n, { qos: 1 });
      else c.publish(topic, n, { qos: 1 }, () => undefined);
      await settle(30);
      await c.endAsync(true);
    }
    await settle();
    const table = [...sent].map(([n, topic]) => [topic, got.has(n)]);
    expect(table).toEqual([...sent.values()].map((topic) => [topic, mayPublish(who, topic)]));
  });

  // ------------------------------------------------------------------ subscribing

  const subscribers: Who[] = ['gateway', ...UNITS];
  const filters = ['#', '$SYS/#', '+/+/+', 'lockers/#', 'cab/#', 'dtu/#', ...DOWNLINKS.map((d) => d.topic)];
  it.each(subscribers.map((w) => [whoName(w), w] as const))('subscribe: %s, to #, $SYS/# and every unit topic', async (_n, who) => {
    const sub = await connect(who);
    const got: { topic: string; payload: string }[] = [];
    sub.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
    for (const f of filters) await sub.subscribeAsync(f, { qos: 1 }).catch(() => undefined);

    // Traffic on every unit topic, each from the one allowed to send it.
    const sent = new Map<string, string>();
    const gw = await connect('gateway');
    for (const { topic } of DOWNLINKS) {
      const n = nonce();
      sent.set(n, topic);
      await gw.publishAsync(topic, n, { qos: 1 });
    }
    for (const u of UNITS) {
      const c = u === who ? sub : await connect(u);
      for (const topic of unitPublishTopics(u)) {
        const n = nonce();
        sent.set(n, topic);
        await c.publishAsync(topic, n, { qos: 1 });
      }
    }
    // $SYS traffic: aedes announces every new client there; Mosquitto keeps retained $SYS/broker/… topics.
    await connect('gateway');
    await settle();

    const received = new Set(got.map((m) => m.payload));
    expect([...sent].map(([n, topic]) => [topic, received.has(n)])).toEqual([...sent.values()].map((t) => [t, mayRead(who, t)]));
    expect(got.filter((m) => m.topic.startsWith('$SYS'))).toEqual([]);
    for (const m of got) expect(mayRead(who, m.topic), `${whoName(who)} received ${m.topic}`).toBe(true);
  });
});
