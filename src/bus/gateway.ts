import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { unitKey, type Credentials } from '../config/credentials.js';
import type { UnitProfile } from '../domain/model.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { keys } from '../store/keys.js';
import type { LoggedEvent, UnitStore } from '../store/units.js';
import { CommandBus, type RemoteCommandSender } from './commands.js';
import type { OpenGuard } from './open-guard.js';
import type { Driver, DriverContext, DriverTimings } from './driver.js';
import { UnitIntake, type IncomingMessage } from './intake.js';
import { createDriver } from '../../devices/registry.js';

/**
 * Replay window of one unit (BaseDriver.commandSlot). KEYS 1: list of `ms|s|id` (s: door/keypad) or `ms|o|id`,
 * oldest first. ARGV: now, window ms, limit, s|o, command id. Returns 0 (reserved) or ms to wait.
 */
const COMMAND_SLOT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  if tonumber(string.match(head, '^(%d+)|')) > now - window then break end
  redis.call('LPOP', KEYS[1])
end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i, item in ipairs(items) do
  local t, kind = string.match(item, '^(%d+)|(%a)|')
  if kind == 's' then
    -- the oldest still valid door/keypad command, and every command after it
    if #items - i + 1 >= limit then return math.max(1, tonumber(t) + window - now + 1) end
    break
  end
end
redis.call('RPUSH', KEYS[1], ARGV[1] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
return 0`;

const NEXT_MSG_ID = `
local v = redis.call('INCR', KEYS[1])
if v > 65535 then redis.call('SET', KEYS[1], 1) v = 1 end
return v`;

export interface GatewayBusOptions {
  mqttUrl: string;
  /**
   * The embedded broker of this process: a new in-process connection to it (EmbeddedBroker.connectLocal), used
   * instead of a socket to `mqttUrl` (which then only names the broker in logs).
   */
  localConnection?: () => Duplex;
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
  timings: DriverTimings & Pick<Config, 'COMMAND_TIMEOUT_MS' | 'UNIT_QUEUE_MAX_BYTES'>;
  now?: () => number;
  /** rate limits and lockdowns of door opens, passed to the command bus */
  opens?: OpenGuard;
  /** units are served once their lease is acquired (attach/detach); otherwise every unit from the start */
  leased?: boolean;
  /** false when this gateway may no longer act for the unit (its lease lapsed): nothing is published for it */
  fence?: (unit: string) => boolean;
  /** doors of units served by another gateway: commands go to their owner through Redis (src/scale/) */
  remote?: RemoteCommandSender;
}

/**
 * The gateway's side of MQTT: one client, one driver per unit it serves (every unit, or with UNIT_LEASES the units
 * whose lease it holds: attach/detach), messages routed by topic to their unit's driver.
 * Emits 'event' (LoggedEvent) for every event logged, for live views and the parcel engine.
 */
export class GatewayBus extends EventEmitter<{ event: [LoggedEvent] }> {
  readonly drivers = new Map<string, Driver>();
  readonly commands: CommandBus;
  private readonly byTopicPrefix = new Map<string, Driver>();
  private client: MqttClient | null = null;
  /** messages that could not be stored, by content: how often they failed */
  private readonly failures = new Map<string, number>();
  /** one queue per unit (intake.ts) */
  private readonly intake: UnitIntake;
  /** counts broker connections: an acknowledgement is only sent on the connection its message came on */
  private generation = 0;

  constructor(private readonly o: GatewayBusOptions) {
    super();
    const now = o.now ?? Date.now;
    const k = keys(o.prefix);
    this.intake = new UnitIntake({
      logger: o.logger.child({ component: 'mqtt' }),
      counters: o.counters,
      maxBytes: o.timings.UNIT_QUEUE_MAX_BYTES,
      failed: (msg, err) => this.notStored(msg, err),
      handled: (msg) => {
        if (this.failures.size) this.failures.delete(failureKey(msg));
      },
    });
    o.redis.defineCommand('lgNextMsgId', { numberOfKeys: 1, lua: NEXT_MSG_ID });
    o.redis.defineCommand('lgCommandSlot', { numberOfKeys: 1, lua: COMMAND_SLOT });
    this.commands = new CommandBus({
      redis: o.redis,
      prefix: o.prefix,
      drivers: this.drivers,
      store: o.store,
      logger: o.logger,
      counters: o.counters,
      timeoutMs: o.timings.COMMAND_TIMEOUT_MS,
      now,
      units: o.units.map((u) => u.id),
      ...(o.opens ? { opens: o.opens } : {}),
      ...(o.remote ? { remote: o.remote } : {}),
    });
    this.ctxFor = (unit) => ({
      unit,
      key: unitKey(o.credentials, unit.id),
      codeKey: o.codeKey,
      publish: (topic, payload, qos, retain = false) => {
        // fencing: a unit whose lease this gateway no longer holds gets nothing more from it
        if (o.fence && !o.fence(unit.id)) return Promise.reject(new Error(`unit ${unit.id}: not owned by this gateway (lease lost)`));
        return this.publish(topic, payload, qos, retain);
      },
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
      reserveCommandSlot: async ({ commandId, sensitive, limit, windowMs }) =>
        Number(
          await (o.redis as Redis & { lgCommandSlot(k: string, ...a: (string | number)[]): Promise<number> }).lgCommandSlot(
            k.commandWindow(unit.id),
            now(),
            windowMs,
            limit,
            sensitive ? 's' : 'o',
            commandId,
          ),
        ),
      alertStaff: async (alert) => {
        if ((await o.redis.set(k.staffAlert(alert.id), '1', 'EX', 24 * 3600, 'NX')) === null) return;
        // The same outbox the parcel steps write: the relay hands it to the property's webhook.
        const notice = { id: alert.id, kind: alert.kind, to: { lang: 'zh', webhook: 'property' }, params: alert.params };
        await o.redis.xadd(k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice));
      },
      counters: o.counters,
      logger: o.logger,
      now,
      timings: o.timings,
    });
    if (!o.leased) for (const unit of o.units) this.createDriver(unit);
  }

  private readonly ctxFor: (unit: UnitProfile) => DriverContext;

  private createDriver(unit: UnitProfile): Driver {
    const driver = createDriver(this.ctxFor(unit));
    this.drivers.set(unit.id, driver);
    for (const s of driver.subscriptions) this.byTopicPrefix.set(topicPrefix(s.topic), driver);
    return driver;
  }

  /**
   * Start serving a unit (its lease was acquired, src/scale/leases.ts): a driver of its own, its topics subscribed,
   * then the dialect's re-sync (status request, retained snapshot, board poll), since messages the unit sent while
   * nobody served it went to the previous owner's session.
   */
  async attach(unitId: string): Promise<void> {
    if (this.drivers.has(unitId)) return;
    const unit = this.o.units.find((u) => u.id === unitId);
    if (!unit) throw new Error(`unknown unit ${unitId}`);
    const driver = this.createDriver(unit);
    driver.start();
    const client = this.client;
    if (client?.connected) {
      await this.subscribe(driver.subscriptions);
      await driver.brokerConnected();
    }
  }

  /** Stop serving a unit (lease lost or handed over): unsubscribe, stop its driver (pending commands time out). */
  async detach(unitId: string): Promise<void> {
    const driver = this.drivers.get(unitId);
    if (!driver) return;
    this.drivers.delete(unitId);
    for (const s of driver.subscriptions) this.byTopicPrefix.delete(topicPrefix(s.topic));
    const client = this.client;
    if (client?.connected) {
      const share = this.o.shareGroup ? `$share/${this.o.shareGroup}/` : '';
      await client.unsubscribeAsync(driver.subscriptions.map((s) => share + s.topic)).catch((err: unknown) => this.o.logger.warn('unsubscribe failed', { unit: unitId, err }));
    }
    await driver.stop();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** How the gateway reaches its broker: in memory (the embedded broker of this process) or a socket. */
  get transport(): 'in-process' | 'socket' {
    return this.o.localConnection ? 'in-process' : 'socket';
  }

  async start(): Promise<void> {
    for (const d of this.drivers.values()) d.start();
    const log = this.o.logger.child({ component: 'mqtt' });
    const options: IClientOptions = {
      clientId: this.o.clientId,
      username: this.o.credentials.gateway.username,
      password: this.o.credentials.gateway.password,
      protocolVersion: 4,
      // A persistent session: QoS 1 messages published while the gateway restarts wait for it at the broker.
      clean: false,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
    };
    const local = this.o.localConnection;
    const client = local ? new MqttClient(() => local(), options) : mqtt.connect(this.o.mqttUrl, options);
    this.client = client;
    // Routed from handleMessage, not the 'message' event: mqtt.js sends a QoS 1 message's PUBACK when
    // handleMessage calls back, and by default that is at once, before the driver has written the event to Redis.
    // A crash in between lost events the broker had already given up (the unit's buffer had let them go too).
    // Here handleMessage only queues the message for its unit (intake.ts) and calls back with an error, which makes
    // mqtt.js go on to the next packet without a PUBACK; the PUBACK is written once the unit's driver has stored
    // the message. Until then the broker keeps it in the persistent session: a crash replays it and the dialect's
    // dedupe drops what was logged. Units take turns; each unit's messages are handled one at a time, in order.
    client.handleMessage = (packet, done) => {
      const driver = this.byTopicPrefix.get(topicPrefix(packet.topic));
      if (!driver && this.o.leased && this.o.units.some((u) => topicPrefix(packet.topic).endsWith(`/${u.id}`))) {
        // a unit just handed over (unsubscribed): its new owner re-syncs with the unit
        log.debug('message for a unit this gateway no longer serves dropped', { topic: packet.topic });
        done();
        return;
      }
      if (!driver) {
        this.o.counters.inc('lg_malformed_total', { unit: 'unknown', dialect: 'unknown' });
        log.warn('message on an unknown topic dropped', { topic: packet.topic });
        done();
        return;
      }
      const stream = client.stream;
      const generation = this.generation;
      const id = packet.messageId;
      const msg: IncomingMessage = {
        topic: packet.topic,
        payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
        qos: packet.qos,
        generation,
        ack: () => {
          if (packet.qos !== 1 || id === undefined || this.generation !== generation || stream.destroyed) return;
          stream.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff])); // PUBACK (MQTT 3.1.1)
        },
      };
      this.intake.push(driver, msg, () => done(packet.qos === 0 ? undefined : ACK_LATER));
    };
    client.on('close', () => this.intake.connectionLost(this.generation++));
    client.on('connect', (ack) => {
      // No Nagle: a command or an acknowledgement is one small packet that must leave now, not ~40 ms later.
      const stream = client.stream as { setNoDelay?: (on: boolean) => unknown };
      if (typeof stream.setNoDelay === 'function') stream.setNoDelay(true);
      log.info('connected to broker', { url: redact(this.o.mqttUrl), transport: this.transport, sessionPresent: ack.sessionPresent });
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
    await this.subscribe([...this.drivers.values()].flatMap((d) => d.subscriptions));
  }

  private async subscribe(list: readonly { topic: string; qos: 0 | 1 }[]): Promise<void> {
    if (!list.length) return;
    const share = this.o.shareGroup ? `$share/${this.o.shareGroup}/` : '';
    const subs: Record<string, { qos: 0 | 1 }> = {};
    for (const s of list) subs[share + s.topic] = { qos: s.qos };
    const granted = await this.client!.subscribeAsync(subs);
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length) this.o.logger.error('broker refused subscriptions (check its ACL)', { refused });
  }

  /**
   * A QoS 1 message its driver could not store. While Redis is unreachable nothing can be stored: that is an outage,
   * and the message is delivered again after a reconnect. A message that fails again and again while Redis is up is
   * a poison message: after three tries it is acknowledged and dropped, so one bad message cannot stall its unit.
   */
  private notStored(msg: IncomingMessage, err: unknown): boolean {
    const log = this.o.logger.child({ component: 'mqtt' });
    const key = failureKey(msg);
    const redisUp = this.o.redis.status === 'ready';
    const tries = (this.failures.get(key) ?? 0) + (redisUp ? 1 : 0);
    this.failures.set(key, tries);
    if (tries >= 3 || this.failures.size > 1000) {
      this.failures.delete(key);
      log.error('message dropped after repeated failures', { topic: msg.topic, tries, err });
      return true;
    }
    if (msg.generation === this.generation) {
      log.warn('message not stored; reconnecting so the broker delivers it again', { topic: msg.topic, tries, err });
      this.client?.stream.destroy();
    }
    return false;
  }

  async publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): Promise<void> {
    if (!this.client) throw new Error('bus not started');
    await this.client.publishAsync(topic, payload, { qos, retain });
  }

  async stop(): Promise<void> {
    await this.intake.stop();
    await Promise.all([...this.drivers.values()].map((d) => d.stop()));
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync();
  }
}

function failureKey(msg: IncomingMessage): string {
  return `${msg.topic}\u0000${msg.payload.toString('base64')}`;
}

/** handleMessage's answer for a QoS 1 message that is acknowledged later, once stored (see start()). */
const ACK_LATER = new Error('acknowledged once stored');

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
