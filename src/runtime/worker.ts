import { Hono } from 'hono';

/**
 * Workers entry (wrangler.toml). The internet-facing edge must never hold broker credentials that can open a door:
 * it will read state from Redis over HTTP and queue door commands for the site gateway. Until that lands it answers
 * health checks only, so the build and deployment path exist from day one.
 */
const app = new Hono<{ Bindings: { SITE?: string } }>();
app.get('/healthz', (c) => c.json({ ok: true, edge: true, site: c.env?.SITE ?? null }));
app.notFound((c) =>
  c.json({ error: { code: 'not_found', message: 'the edge API is not deployed yet; use the site gateway', requestId: '-' } }, 404),
);

export default app;
