import { ConfigError, parseConfig } from '../config/config.js';
import { CredentialsError } from '../config/credentials.js';
import { createLogger } from '../log.js';
import { startGateway } from './gateway.js';

/** `npm start`: gateway + (by default) embedded broker + the three simulated units. */
async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    console.error(`locker-gateway refuses to start: ${(err as Error).message}`);
    process.exit(2);
  }
  const logger = createLogger(config.LOG_LEVEL);
  let gw;
  try {
    gw = await startGateway(config, { logger });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof CredentialsError || /already in use/.test((err as Error).message)) {
      console.error(`locker-gateway refuses to start: ${(err as Error).message}`);
      process.exit(2);
    }
    throw err;
  }
  const sims = gw.simulators.length ? ` with ${gw.simulators.length} simulated units` : '';
  console.error(`\nlocker-gateway is running${sims}. Open ${gw.url}/  (API: ${gw.url}/v1/units, MQTT: ${gw.mqttUrl})\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await gw.close();
    process.exit(0);
  };
  // A stray rejection (a Redis blip in a background step) is a bug to log, not a reason to drop every unit.
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { err }));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('locker-gateway crashed during start-up:', err);
  process.exit(1);
});
