import { Hono } from 'hono';
import type { Counters } from '../../metrics.js';
import { sameSecret } from '../auth.js';
import { errorBody } from '../errors.js';

/**
 * GET /metrics (Prometheus text format). With a token, only `Authorization: Bearer <METRICS_TOKEN>` is answered;
 * without one it is refused on the public listener, and served as is only on the separate METRICS_PORT listener.
 */
export function metricsRoutes(deps: { counters: Counters; token: string | null; open?: boolean }) {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    if (deps.token) {
      const given = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (!given || !sameSecret(given, deps.token)) {
        c.header('WWW-Authenticate', 'Bearer realm="locker-gateway metrics"');
        return c.json(errorBody(c, 'unauthorized', 'metrics need Authorization: Bearer <METRICS_TOKEN>'), 401);
      }
    } else if (!deps.open) {
      return c.json(errorBody(c, 'unauthorized', 'metrics are off here: set METRICS_TOKEN, or METRICS_PORT for a listener of their own'), 401);
    }
    return c.body(await deps.counters.render(), 200, { 'content-type': deps.counters.contentType });
  });
  return app;
}
