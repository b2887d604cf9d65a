import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv } from '../app.js';

export interface Health {
  redis(): Promise<boolean>;
  /** the units' side: MQTT on site; at the edge, whether the site gateway's consumer is alive */
  mqtt(): boolean | Promise<boolean>;
}

const Ready = z.object({ ready: z.boolean(), redis: z.boolean(), mqtt: z.boolean() }).openapi('Readiness');

/** Health checks. GET /metrics is in metrics.ts, mounted by the runtime (token or a listener of its own). */
export function healthRoutes(deps: { health: Health }) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['health'],
      summary: 'The process is up',
      responses: { 200: { description: 'alive', content: { 'application/json': { schema: z.object({ ok: z.boolean() }) } } } },
    }),
    (c) => c.json({ ok: true }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['health'],
      summary: 'Redis and MQTT are reachable',
      responses: {
        200: { description: 'ready', content: { 'application/json': { schema: Ready } } },
        503: { description: 'not ready', content: { 'application/json': { schema: Ready } } },
      },
    }),
    async (c) => {
      const redis = await deps.health.redis().catch(() => false);
      const mqtt = await Promise.resolve(deps.health.mqtt()).catch(() => false);
      const body = { ready: redis && mqtt, redis, mqtt };
      return body.ready ? c.json(body, 200) : c.json(body, 503);
    },
  );
  return app;
}
