import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import type { Hono } from 'hono';
import { staffAuth } from './auth.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- any app env: the board only adds its own routes */

/** Bull Board (the notification queues) for staff, behind the staff token (basic auth in a browser). */
export function mountBullBoard(app: Hono<any>, queues: Queue[], staffToken: string, base = '/admin/queues'): void {
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: adapter });
  adapter.setBasePath(base);
  app.use(`${base}/*`, staffAuth(staffToken));
  app.use(base, staffAuth(staffToken));
  app.route(base, adapter.registerPlugin());
}
