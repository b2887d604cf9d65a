import { ConfigError, parseConfig } from '../config/config.js';
import { CredentialsError } from '../config/credentials.js';
import { createLogger, type Logger } from '../log.js';
import { startGateway, type RunningGateway } from './gateway.js';

/** How long a drain may take before the process gives up on it (exit 1). */
const DRAIN_LIMIT_MS = 15_000;
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Stopping on SIGTERM (a process manager) or SIGINT (Ctrl-C). The first signal drains: gw.close() stops HTTP,
 * then intake (the parcel engine and outbox relay), the notification workers, MQTT and Redis, in that order, and
 * the process exits 0. A second signal exits at once without draining (128 + the signal's number), as does a drain
 * that takes longer than DRAIN_LIMIT_MS (exit 1). The handlers are installed before start-up, so a signal during
 * start-up waits for it to finish and then drains instead of killing the process half-started.
 */
class Shutdown {
  private signal: string | null = null;
  private gw: RunningGateway | null = null;
  private logger: Logger | null = null;

  install(): void {
    process.on('SIGINT', () => this.on('SIGINT'));
    process.on('SIGTERM', () => this.on('SIGTERM'));
  }

  /** start-up is done: drain now if a signal came during it */
  started(gw: RunningGateway, logger: Logger): void {
    this.gw = gw;
    this.logger = logger;
    if (this.signal) void this.drain();
  }

  get requested(): boolean {
    return this.signal !== null;
  }

  private on(signal: string): void {
    if (this.signal) {
      console.error(`locker-gateway: ${signal} again, exiting without draining`);
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    this.signal = signal;
    console.error(`locker-gateway is stopping (${signal}): HTTP, intake, workers, MQTT, Redis; send ${signal} again to exit at once`);
    // signals during start-up: started() drains once the gateway is up (nothing to drain before)
    if (this.gw) void this.drain();
  }

  private async drain(): Promise<void> {
    const force = setTimeout(() => {
      console.error(`locker-gateway: draining took over ${DRAIN_LIMIT_MS / 1000} s, exiting`);
      process.exit(1);
    }, DRAIN_LIMIT_MS);
    force.unref();
    this.logger?.info('shutting down', { signal: this.signal });
    await this.gw!.close();
    console.error('locker-gateway stopped');
    process.exit(0);
  }
}

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
  const shutdown = new Shutdown();
  shutdown.install();
  // A stray rejection (a Redis blip in a background step) is a bug to log, not a reason to drop every unit.
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { err }));
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
  if (!shutdown.requested) {
    const sims = gw.simulators.length ? ` with ${gw.simulators.length} simulated units` : '';
    console.error(`\nlocker-gateway is running${sims}. Open ${gw.url}/  (API: ${gw.url}/v1/units, MQTT: ${gw.mqttUrl})\n`);
  }
  shutdown.started(gw, logger);
}

main().catch((err: unknown) => {
  console.error('locker-gateway crashed during start-up:', err);
  process.exit(1);
});
