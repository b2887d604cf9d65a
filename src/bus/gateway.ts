import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { unitKey, type Credentials } from '../config/credentials.js';
import type { UnitProfile } from '../domain/model.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { keys } from '../store/keys.js';
import type { LoggedEvent, UnitStore } from '../store/units.js';
import { CommandBus } from './commands.js';
import type { OpenGuard } from './open-guard.js';
import type { Driver, DriverContext, DriverTimings } from './driver.js';
import { createDriver } from '../../devices/registry.js';

const NEXT_MSG_ID = `
local v = redis.call('INCR', KEYS[1])
if v > 65535 then redis.call('SET', KEYS[1], 1) v = 1 end
return v`;

export interface GatewayBusOptions {
  mqttUrl: string;
  clientId: string;
  shareGroup: string;
  credentials: Credentials;
  codeKey: Buffer;
  units: readonly UnitProfile[];
  redis: Redis;
  prefix: string;
  store: UnitStore;
  logger: Logger;
  counters: Counters;
  timings: DriverTimings & Pick<Config, 'COMMAND_TIMEOUT_MS'>;
  now?: () => number;
  /** rate limits and lockdowns of door opens, passed to the command bus */
  opens?: OpenGuard;
}

/**
 * The gateway's side of MQTT: one client, one driver per unit, messages routed by topic to their unit's driver.
 * Emits 'event' (LoggedEvent) for every event logged, for live views and the parcel engine.
 */
export class GatewayBus extends EventEmitter<{ event: [LoggedEvent] }> {
  readonly drivers = new Map<string, Driver>();
  readonly commands: CommandBus;
  private readonly byTopicPrefix = new Map<string, Driver>();
  private client: MqttClient | null = null;
  /** messages that could not be stored, by content: how often they failed */
  private readonly failures = new Map<string, number>();

  constructor(private readonly o: GatewayBusOptions) {
    super();
    const now = o.now ?? Date.now;
    const k = keys(o.prefix);
    o.redis.defineCommand('lgNextMsgId', { numberOfKeys: 1, lua: NEXT_MSG_ID });
    this.commands = new CommandBus({
      redis: o.redis,
      prefix: o.prefix,
      drivers: this.drivers,
      store: o.store,
      logger: o.logger,
      counters: o.counters,
      timeoutMs: o.timings.COMMAND_TIMEOUT_MS,
      now,
      ...(o.opens ? { opens: o.opens } : {}),
    });
    for (const unit of o.units) {
      const ctx: DriverContext = {
        unit,
        key: unitKey(o.credentials, unit.id),
        codeKey: o.codeKey,
        publish: (topic, payload, qos, retain = false) => this.publish(topic, payload, qos, retain),
        store: o.store,
        onEvent: (e) => this.emit('event', e),
        onLateReply: (id, result) =>
          void this.commands.lateReply(id, result).catch((err: unknown) => o.logger.warn('late reply not recorded', { id, err })),
        nextDownMsgId: async () =>
          Number(await (o.redis as Redis & { lgNextMsgId(k: string): Promise<number> }).lgNextMsgId(k.downMsgId(unit.id))),
        rememberDownMsg: async (m, id) => {
          await o.redis.set(k.downMsgMap(unit.id, m), id, 'EX', 3600);
        },
        lookupDownMsg: (m) => o.redis.get(k.downMsgMap(unit.id, m)),
        counters: o.counters,
        logger: o.logger,
        now,
        timings: o.timings,
      };
      const driver = createDriver(ctx);
      this.drivers.set(unit.id, driver);
      for (const s of driver.subscriptions) this.byTopicPrefix.set(topicPrefix(s.topic), driver);
    }
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    for (const d of this.drivers.values()) d.start();
    const log = this.o.logger.child({ component: 'mqtt' });
    const client = mqtt.connect(this.o.mqttUrl, {
      clientId: this.o.clientId,
      username: this.o.credentials.gateway.username,
      password: this.o.credentials.gateway.password,
      protocolVersion: 4,
      // A persistent session: QoS 1 messages published while the gateway restarts wait for it at the broker.
      clean: false,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
    });
    this.client = client;
    // Routed from handleMessage, not the 'message' event: mqtt.js sends a QoS 1 message's PUBACK when
    // handleMessage calls back, and by default that is at once, before the driver has written the event to Redis.
    // A crash in between lost events the broker had already given up (the unit's buffer had let them go too).
    // Calling back after route() means the broker keeps the message in the persistent session until the event
    // is logged; a crash replays it and the dialect's dedupe drops what was logged. Messages are handled one at
    // a time (mqtt.js reads the next packet after the callback), in order, as the PUBACK order requires.
    const keyOf = (packet: { topic: string; payload: Buffer | string }) =>
      `${packet.topic}\u0000${Buffer.from(packet.payload).toString('base64')}`;
    client.handleMessage = (packet, done) => {
      this.route(packet.topic, packet.payload as Buffer).then(
        () => {
          if (this.failures.size) this.failures.delete(keyOf(packet));
          done();
        },
        (err: unknown) => {
          if (packet.qos === 0) {
            // QoS 0 is never delivered again (frame-485 bytes): the polls will recover what it said.
            log.warn('QoS 0 message not stored', { topic: packet.topic, err });
            done();
            return;
          }
          // Not stored (Redis down?): do not acknowledge. Dropping the connection makes the broker deliver it
          // again from the persistent session. A message that fails again and again is a poison message: after
          // a few tries it is acknowledged and dropped, so one bad message cannot stall every unit behind it.
          const key = keyOf(packet);
          // While Redis is unreachable nothing can be stored: that is an outage, not a poison message.
          const redisUp = this.o.redis.status === 'ready';
          const tries = (this.failures.get(key) ?? 0) + (redisUp ? 1 : 0);
          this.failures.set(key, tries);
          if (tries >= 3 || this.failures.size > 1000) {
            this.failures.delete(key);
            log.error('message dropped after repeated failures', { topic: packet.topic, tries, err });
            done();
            return;
          }
          log.warn('message not stored; reconnecting so the broker delivers it again', { topic: packet.topic, tries, err });
          client.stream.destroy();
        },
      );
    };
    client.on('connect', (ack) => {
      log.info('connected to broker', { url: redact(this.o.mqttUrl), sessionPresent: ack.sessionPresent });
      void this.subscribeAll()
        .then(() => Promise.all([...this.drivers.values()].map((d) => d.brokerConnected())))
        .catch((err: unknown) => log.error('re-sync after connecting failed', { err }));
    });
    client.on('reconnect', () => log.debug('reconnecting to broker'));
    client.on('offline', () => log.warn('broker connection lost'));
    client.on('error', (err) => log.error('mqtt error', { err }));
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        client.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        client.off('connect', onConnect);
        client.end(true);
        reject(new Error(`MQTT_URL: cannot connect to ${redact(this.o.mqttUrl)} as ${this.o.credentials.gateway.username}: ${err.message}`));
      };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
  }

  private async subscribeAll(): Promise<void> {
    const share = this.o.shareGroup ? `$share/${this.o.shareGroup}/` : '';
    const subs: Record<string, { qos: 0 | 1 }> = {};
    for (const d of this.drivers.values()) for (const s of d.subscriptions) subs[share + s.topic] = { qos: s.qos };
    const granted = await this.client!.subscribeAsync(subs);
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length) this.o.logger.error('broker refused subscriptions (check its ACL)', { refused });
  }

  private async route(topic: string, payload: Buffer): Promise<void> {
    const driver = this.byTopicPrefix.get(topicPrefix(topic));
    if (!driver) {
      this.o.counters.inc('lg_malformed_total', { unit: 'unknown', dialect: 'unknown' });
      this.o.logger.warn('message on an unknown topic dropped', { topic });
      return;
    }
    await driver.handle(topic, payload);
  }

  async publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): Promise<void> {
    if (!this.client) throw new Error('bus not started');
    await this.client.publishAsync(topic, payload, { qos, retain });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.drivers.values()].map((d) => d.stop()));
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync();
  }
}

/** `lockers/LSN-0001/events` -> `lockers/LSN-0001`: every dialect puts the unit id second. */
function topicPrefix(topic: string): string {
  const i = topic.indexOf('/');
  const j = i < 0 ? -1 : topic.indexOf('/', i + 1);
  return j < 0 ? topic : topic.slice(0, j);
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
