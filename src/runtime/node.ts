import { ConfigError, parseConfig, type Config } from '../config/config.js';
import { CredentialsError } from '../config/credentials.js';
import { createLogger } from './logger.js';
import { startGateway, type RunningGateway } from './gateway.js';
import { startOwnRedis, type OwnRedis } from './redis-server.js';

/**
 * `npm start` (node dist/src/runtime/node.js): gateway + (by default) embedded broker + the three simulated units,
 * and a redis-server of its own when REDIS_URL is not set. SIGTERM/SIGINT stop everything in order and exit 0.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    refuse(err as Error);
  }
  const logger = createLogger(config.LOG_LEVEL);
  // A stray rejection (a Redis blip in a background step) is a bug to log, not a reason to drop every unit.
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { err }));

  let ownRedis: OwnRedis | null = null;
  let gw: RunningGateway | null = null;
  let stopping = false;
  const stop = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { why });
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    await gw?.close();
    await ownRedis?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('SIGTERM', () => void stop('SIGTERM', 0));

  try {
    if (!config.REDIS_URL) {
      ownRedis = await startOwnRedis({ dataDir: config.REDIS_DATA_DIR, bin: config.REDIS_SERVER, logger });
      logger.info('REDIS_URL is not set: started a redis-server of its own; the data stays in its directory', {
        redis: ownRedis.url,
        dataDir: ownRedis.dir,
        pid: ownRedis.pid,
      });
      ownRedis.onUnexpectedExit((why) => void stop(why, 1));
      config = { ...config, REDIS_URL: ownRedis.url };
    }
    gw = await startGateway(config, { logger });
  } catch (err) {
    await ownRedis?.stop().catch(() => {});
    if (err instanceof ConfigError || err instanceof CredentialsError || /already in use/.test((err as Error).message)) refuse(err as Error);
    throw err;
  }

  logger.info(`locker-gateway is running: open ${gw.url}/`, {
    url: `${gw.url}/`,
    api: `${gw.url}/v1/units`,
    docs: `${gw.url}/docs`,
    mqtt: gw.mqttUrl,
    redis: withoutPassword(config.REDIS_URL!),
    ...(ownRedis ? { redisDataDir: ownRedis.dir } : {}),
    simulatedUnits: gw.simulators.length,
    autopilot: gw.simulators.length ? config.SIM_AUTOPILOT : undefined,
  });
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
