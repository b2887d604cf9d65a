/**
 * The embedded broker's in-process connection (EmbeddedBroker.connectLocal, src/broker/pair.ts): what the gateway's own
 * MQTT client uses instead of a loopback socket. It must log in and be held to the ACL as any client is.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { unitCommandTopic, unitPublishTopics } from '../../src/broker/acl.js';
import { startEmbeddedBroker } from '../../src/broker/embedded.js';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../../src/config/credentials.js';
import { silentLogger } from '../../src/log.js';
import { eventually, unitLogin } from '../support/stack.js';

const credentials = loadCredentials({ file: DEV_CREDENTIALS_FILE });
const FRAME_UNIT = UNITS.find((u) => u.dialect === 'frame-485')!;
const clients: mqtt.MqttClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
});

const gatewayOpts = (): IClientOptions => ({
  clientId: `locker-gateway-${randomBytes(4).toString('hex')}`,
  username: credentials.gateway.username,
  password: credentials.gateway.password,
});

describe('embedded broker: the in-process connection', () => {
  it('logs in by the same rules, carries messages both ways, and is closed once the broker is', async () => {
    const b = await startEmbeddedBroker({ port: 0, credentials, units: UNITS, logger: silentLogger });
    const inProcess = (opts: IClientOptions) => {
      const c = new mqtt.MqttClient(() => b.connectLocal(), { protocolVersion: 4, reconnectPeriod: 0, ...opts });
      clients.push(c);
      return c;
    };
    try {
      const refused = inProcess({ ...gatewayOpts(), password: 'wrong-password-0' });
      const why = new Promise<Error & { code?: number }>((r) => refused.once('error', r));
      let connected = false;
      refused.once('connect', () => (connected = true));
      expect((await why).code).toBe(4); // CONNACK: bad user name or password
      expect(connected).toBe(false);

      const gw = inProcess(gatewayOpts());
      gw.on('error', () => undefined);
      await new Promise((r) => gw.once('connect', r));
      const unit = await mqtt.connectAsync(b.url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        ...unitLogin(FRAME_UNIT),
      });
      clients.push(unit);
      unit.on('error', () => undefined);
      const up = unitPublishTopics(FRAME_UNIT)[0]!;
      await gw.subscribeAsync(up, { qos: 1 });
      await unit.subscribeAsync(unitCommandTopic(FRAME_UNIT), { qos: 1 });
      // the gateway may not subscribe to everything, in memory as over a socket (SUBACK 0x80)
      await expect(gw.subscribeAsync('#', { qos: 0 })).rejects.toThrow(/Subscribe error/);
      const toGateway = new Promise<string>((r) => gw.once('message', (topic) => r(topic)));
      const toUnit = new Promise<string>((r) => unit.once('message', (topic) => r(topic)));
      await unit.publishAsync(up, 'up', { qos: 1 });
      await gw.publishAsync(unitCommandTopic(FRAME_UNIT), 'down', { qos: 1 });
      expect([await toGateway, await toUnit]).toEqual([up, unitCommandTopic(FRAME_UNIT)]);
      expect(b.clients()).toBe(2);
      await b.close();
      await eventually(() => !gw.connected, 3000, 'the in-process client disconnected');
      const late = b.connectLocal();
      await new Promise((r) => late.once('close', r));
    } finally {
      await b.close();
    }
  });
});
