import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import type { Hono } from 'hono';
import { requireRole, staffAuth, type StaffAuthDeps } from './auth.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- any app env: the board only adds its own routes */

/**
 * Bull Board (the notification queues), for admins only: signed in (the session cookie), or an admin's API token
 * as a bearer token or as the basic-auth password (in development also STAFF_TOKEN).
 */
export function mountBullBoard(app: Hono<any>, queues: Queue[], auth: StaffAuthDeps, base = '/admin/queues'): void {
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: adapter });
  adapter.setBasePath(base);
  const guard = [staffAuth(auth, { csrfToken: false }), requireRole('admin')] as const;
  app.use(`${base}/*`, ...guard);
  app.use(base, ...guard);
  app.route(base, adapter.registerPlugin());
}
