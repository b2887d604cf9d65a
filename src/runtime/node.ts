import { ConfigError, parseConfig, type Config } from '../config/config.js';
import { CredentialsError } from '../config/credentials.js';
import type { Logger } from '../log.js';
import { createLogger } from './logger.js';
import { startGateway, type RunningGateway } from './gateway.js';
import { startWorkers, type RunningWorkers } from './workers-role.js';
import { startOwnRedis, type OwnRedis } from './redis-server.js';

/** How long a drain may take before the process gives up on it (exit 1). */
const DRAIN_LIMIT_MS = 15_000;
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Stopping on SIGTERM (a process manager) or SIGINT (Ctrl-C). The first signal drains: gw.close() stops HTTP,
 * then intake (the parcel engine and outbox relay), the notification workers, MQTT and Redis, in that order; then
 * the gateway's own redis-server (if it started one) is stopped and the process exits 0. A second signal exits at
 * once without draining (128 + the signal's number), as does a drain that takes longer than DRAIN_LIMIT_MS (exit 1).
 * The handlers are installed before start-up, so a signal during start-up waits for it to finish and then drains
 * instead of killing the process half-started.
 */
class Shutdown {
  private signal: string | null = null;
  private gw: Pick<RunningGateway, 'close'> | null = null;
  ownRedis: OwnRedis | null = null;

  /** `say`: the lines about starting and stopping (shown at every LOG_LEVEL but silent) */
  constructor(private readonly say: Logger) {}

  install(): void {
    process.on('SIGINT', () => this.on('SIGINT'));
    process.on('SIGTERM', () => this.on('SIGTERM'));
  }

  /** start-up is done: drain now if a signal came during it */
  started(gw: Pick<RunningGateway, 'close'>): void {
    this.gw = gw;
    if (this.signal) void this.drain();
  }

  get requested(): boolean {
    return this.signal !== null;
  }

  /** the gateway cannot go on (its own Redis died): stop what is left and exit 1 */
  fail(why: string): void {
    this.say.error(`locker-gateway is stopping: ${why}`);
    this.signal ??= 'failure';
    void this.drain(1);
  }

  private on(signal: string): void {
    if (this.signal) {
      this.say.warn(`locker-gateway: ${signal} again, exiting without draining`);
      // its own redis-server is in a process group of its own: ask it to stop too (it saves and exits by itself)
      if (this.ownRedis) process.kill(this.ownRedis.pid, 'SIGTERM');
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    this.signal = signal;
    this.say.info(`locker-gateway is stopping (${signal}): HTTP, intake, workers, MQTT, Redis; send ${signal} again to exit at once`);
    // signals during start-up: started() drains once the gateway is up (nothing to drain before)
    if (this.gw) void this.drain();
  }

  private async drain(code = 0): Promise<void> {
    const force = setTimeout(() => {
      this.say.error(`locker-gateway: draining took over ${DRAIN_LIMIT_MS / 1000} s, exiting`);
      process.exit(1);
    }, DRAIN_LIMIT_MS);
    force.unref();
    await this.gw?.close();
    await this.ownRedis?.stop();
    this.say.info('locker-gateway stopped', { signal: this.signal });
    process.exit(code);
  }
}

/**
 * `npm start` (node dist/src/runtime/node.js): gateway + (by default) embedded broker + the three simulated units,
 * and a redis-server of its own when REDIS_URL is not set.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    refuse(err as Error);
  }
  const logger = createLogger(config.LOG_LEVEL);
  const say = config.LOG_LEVEL === 'silent' ? logger : createLogger('info');
  const shutdown = new Shutdown(say);
  shutdown.install();
  // A stray rejection (a Redis blip in a background step) is a bug to log, not a reason to drop every unit.
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { err }));

  let gw: RunningGateway | RunningWorkers;
  try {
    if (!config.REDIS_URL) {
      const own = await startOwnRedis({ dataDir: config.REDIS_DATA_DIR, bin: config.REDIS_SERVER, logger });
      shutdown.ownRedis = own;
      say.info('REDIS_URL is not set: started a redis-server of its own; the data stays in its directory', { redis: own.url, dataDir: own.dir, pid: own.pid });
      own.onUnexpectedExit((why) => shutdown.fail(why));
      config = { ...config, REDIS_URL: own.url };
    }
    gw = config.ROLE === 'workers' ? await startWorkers(config, { logger }) : await startGateway(config, { logger });
  } catch (err) {
    await shutdown.ownRedis?.stop().catch(() => {});
    if (err instanceof ConfigError || err instanceof CredentialsError || /already in use/.test((err as Error).message)) refuse(err as Error);
    throw err;
  }
  if (shutdown.requested) {
    /* draining: no banner */
  } else if (!('bus' in gw)) {
    say.info('locker-gateway is running: ROLE=workers (the outbox relay and the notification workers; no units, no API)', {
      role: config.ROLE,
      url: gw.url,
      health: `${gw.url}/readyz`,
      metrics: gw.metricsUrl,
      redis: withoutPassword(config.REDIS_URL!),
    });
  } else {
    say.info(`locker-gateway is running: open ${gw.url}/`, {
      ...(config.ROLE !== 'all' ? { role: config.ROLE } : {}),
      url: `${gw.url}/`,
      api: `${gw.url}/v1/units`,
      docs: `${gw.url}/docs`,
      mqtt: gw.mqttUrl,
      redis: withoutPassword(config.REDIS_URL!),
      ...(shutdown.ownRedis ? { redisDataDir: shutdown.ownRedis.dir } : {}),
      simulatedUnits: gw.simulators.length,
      ...(gw.simulators.length ? { autopilot: config.SIM_AUTOPILOT } : {}),
    });
  }
  shutdown.started(gw);
}

function refuse(err: Error): never {
  console.error(`locker-gateway refuses to start: ${err.message}`);
  process.exit(2);
}

function withoutPassword(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

main().catch((err: unknown) => {
  console.error('locker-gateway crashed during start-up:', err);
  process.exit(1);
});
