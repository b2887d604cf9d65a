import type { Redis } from 'ioredis';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../broker/embedded.js';
import { GatewayBus } from '../../bus/gateway.js';
import { OpenGuard, openLimits } from '../../bus/open-guard.js';
import type { Config } from '../../config/config.js';
import type { Credentials } from '../../config/credentials.js';
import type { Clock } from '../../domain/clock.js';
import type { UnitProfile } from '../../domain/model.js';
import type { EvidenceLog } from '../../evidence/index.js';
import type { Logger } from '../../log.js';
import type { Counters } from '../../metrics.js';
import type { UnitStore } from '../../store/units.js';
import { RemoteCommands } from '../../scale/remote-commands.js';
import { UnitLeases } from '../../scale/leases.js';

export interface Mqtt {
  bus: GatewayBus;
  broker: EmbeddedBroker | null;
  mqttUrl: string;
  /** UNIT_LEASES=on: the units' leases (started by startLeases, once the parcel engine reads) */
  leases: UnitLeases | null;
}

/**
 * The embedded broker (unless MQTT_URL names one) and the gateway's MQTT bus. With UNIT_LEASES=on the bus serves
 * only the units whose lease this gateway holds (src/scale/leases.ts), and commands for the others go to their
 * owner through Redis (src/scale/remote-commands.ts).
 */
export async function startMqtt(d: {
  config: Config;
  credentials: Credentials;
  units: readonly UnitProfile[];
  redis: Redis;
  connection: () => Redis;
  store: UnitStore;
  evidenceLog: EvidenceLog;
  clock: Clock;
  logger: Logger;
  counters: Counters;
  cleanups: (() => Promise<unknown>)[];
}): Promise<Mqtt> {
  const { config, credentials, units, redis, logger, counters, cleanups } = d;
  let broker: EmbeddedBroker | null = null;
  let mqttUrl = config.MQTT_URL;
  if (!mqttUrl) {
    broker = await startEmbeddedBroker({
      host: config.MQTT_HOST,
      port: config.MQTT_PORT,
      credentials,
      units,
      logger,
      counters,
      limits: {
        maxPacketBytes: config.MQTT_MAX_PACKET_BYTES,
        gatewayMaxPacketBytes: config.MQTT_GATEWAY_MAX_PACKET_BYTES,
        connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
        maxInflight: config.MQTT_MAX_INFLIGHT,
      },
    });
    const b = broker;
    cleanups.push(() => b.close());
    mqttUrl = broker.url;
    logger.info('embedded MQTT broker listening', { url: mqttUrl });
  }

  // Every door open passes the open guard (rate limits, lockdowns), through the command bus.
  const opens = new OpenGuard({ redis, prefix: config.REDIS_PREFIX, evidence: d.evidenceLog, units, limits: openLimits(config), counters, logger, now: () => d.clock.now() });
  const embedded = broker;
  let leases: UnitLeases | null = null;
  let remote: RemoteCommands | null = null;
  const bus: GatewayBus = new GatewayBus({
    opens,
    mqttUrl,
    // The embedded broker is in this process: the gateway's client connects to it in memory, not over a socket.
    ...(embedded ? { localConnection: () => embedded.connectLocal() } : {}),
    clientId: config.MQTT_CLIENT_ID,
    shareGroup: config.MQTT_SHARE_GROUP,
    credentials,
    codeKey: Buffer.from(credentials.gateway.codeKeyHex!, 'hex'),
    units,
    redis,
    prefix: config.REDIS_PREFIX,
    store: d.store,
    logger,
    counters,
    timings: config,
    ...(config.UNIT_LEASES
      ? {
          leased: true,
          fence: (unit: string) => leases?.holds(unit) ?? false,
          remote: {
            send: (unit, op, opts) => {
              if (!remote) throw new Error('remote commands not started');
              return remote.send(unit, op, opts);
            },
          },
        }
      : {}),
  });
  cleanups.push(() => bus.stop());
  await bus.start();

  if (config.UNIT_LEASES) {
    leases = new UnitLeases({
      redis,
      prefix: config.REDIS_PREFIX,
      gatewayId: config.GATEWAY_ID,
      units: units.map((u) => u.id),
      ttlMs: config.LEASE_TTL_MS,
      renewMs: config.LEASE_RENEW_MS,
      logger,
      acquired: (unit) => bus.attach(unit),
      lost: (unit) => bus.detach(unit),
      counters,
    });
    const l = leases;
    remote = new RemoteCommands({
      redis,
      connection: d.connection,
      prefix: config.REDIS_PREFIX,
      gatewayId: config.GATEWAY_ID,
      commands: () => bus.commands,
      owned: () => l.owned(),
      holds: (unit) => l.holds(unit),
      timeoutMs: config.COMMAND_TIMEOUT_MS,
      logger,
      counters,
    });
    await remote.start();
    const r = remote;
    cleanups.push(() => r.stop());
  }
  return { bus, broker, mqttUrl, leases };
}

/**
 * Take the units' leases (first round awaited: the gateway serves its share once it says it is running). Stopping
 * releases them, after HTTP has stopped and before the engine and the bus, so another gateway takes over at once.
 */
export async function startLeases(leases: UnitLeases | null, cleanups: (() => Promise<unknown>)[]): Promise<void> {
  if (!leases) return;
  await leases.start();
  cleanups.push(() => leases.stop());
}
