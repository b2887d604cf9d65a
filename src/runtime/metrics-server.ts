import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from '../config/config.js';
import { metricsRoutes } from '../http/routes/metrics.js';
import type { Counters } from '../metrics.js';
import { registerGauges, type GaugeSources } from './gauges.js';

export interface MetricsEndpoint {
  /** where Prometheus scrapes when on a listener of its own; null = `/metrics` of the main listener */
  url: string | null;
  close(): Promise<void>;
}

/**
 * Declares the gauges and serves GET /metrics: on the main app behind METRICS_TOKEN, or, with METRICS_PORT, on a
 * listener of its own (METRICS_HOST, 127.0.0.1 by default) and not on the main one.
 */
export async function serveMetrics(
  app: { route(path: string, sub: Hono): unknown },
  counters: Counters,
  config: Pick<Config, 'METRICS_TOKEN' | 'METRICS_PORT' | 'METRICS_HOST'>,
  /** null: counters only (a ROLE=workers process: the gateway processes export the fleet's gauges) */
  sources: GaugeSources | null,
): Promise<MetricsEndpoint> {
  if (sources) registerGauges(counters, sources);
  const routes = metricsRoutes({ counters, token: config.METRICS_TOKEN ?? null, open: config.METRICS_PORT !== undefined });
  if (config.METRICS_PORT === undefined) {
    app.route('/', routes);
    return { url: null, close: async () => {} };
  }
  const server = createAdaptorServer({ fetch: routes.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new ConfigError(`METRICS_PORT ${config.METRICS_PORT} on ${config.METRICS_HOST} is already in use. Set METRICS_PORT to a free port.`) : err),
    );
    server.listen(config.METRICS_PORT, config.METRICS_HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${config.METRICS_HOST === '0.0.0.0' ? '127.0.0.1' : config.METRICS_HOST}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
