import type { Queue } from 'bullmq';
import { Hono, type MiddlewareHandler } from 'hono';
import { maskPhone } from '../notify/phone.js';
import { requireRole, staffAuth, type StaffAuthDeps } from './auth.js';
import { ApiError } from './errors.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- any app env: the board only adds its own routes */

/** Mainland mobile numbers anywhere in a text (alone, or after +86 / 0086). */
const MOBILE_IN_TEXT = /(?<![\d])(\+?86|0086)?(1[3-9]\d)(\d{4})(\d{4})(?![\d])/g;
export const maskPhonesInText = (s: string) => s.replace(MOBILE_IN_TEXT, (_m, cc: string | undefined, a: string, _b: string, c: string) => `${cc ?? ''}${a}****${c}`);

/** A notice job's data as the board shows it: the phone masked, a pickup or sign-in code never shown. */
export function maskJobData(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  const d = data as { notice?: { to?: { sms?: string }; params?: Record<string, unknown> } };
  if (!d.notice) return data;
  const { code: _code, ...params } = d.notice.params ?? {};
  return {
    ...d,
    notice: {
      ...d.notice,
      ...(d.notice.to ? { to: { ...d.notice.to, ...(d.notice.to.sms ? { sms: maskPhone(d.notice.to.sms) } : {}) } } : {}),
      params: { ...params, ...('code' in (d.notice.params ?? {}) ? { code: '******' } : {}) },
    },
  };
}

/** Bull Board's page asks fonts.googleapis.com for its font (blocked in mainland China): it falls back to system-ui. */
const EXTERNAL_FONT = /<link[^>]+fonts\.(googleapis|gstatic)\.com[^>]*>/g;
const BOARD_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; script-src 'self'; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/**
 * Everything the board answers goes through here: its page without the external font link and with a content
 * security policy that allows no other host; its API's answers with every mobile number masked (job data, failure
 * reasons, stack traces). Job data cannot be edited or jobs added by hand: the board shows the data masked, and
 * saving it would write the masks back.
 */
function boardPrivacy(): MiddlewareHandler {
  return async (c, next) => {
    if (/\/(update-data|add)$/.test(c.req.path) && c.req.method !== 'GET') {
      throw new ApiError(405, 'forbidden', 'job data is shown masked here and cannot be edited, nor jobs added, from the board');
    }
    await next();
    const type = c.res.headers.get('content-type') ?? '';
    if (type.includes('text/html')) {
      const html = (await c.res.text()).replace(EXTERNAL_FONT, '');
      const headers = new Headers(c.res.headers);
      headers.delete('content-length');
      headers.set('content-security-policy', BOARD_CSP);
      c.res = new Response(html, { status: c.res.status, headers });
    } else if (type.includes('application/json')) {
      const body = maskPhonesInText(await c.res.text());
      const headers = new Headers(c.res.headers);
      headers.delete('content-length');
      c.res = new Response(body, { status: c.res.status, headers });
    }
  };
}

/**
 * Bull Board (the notification queues), for admins only: signed in (the session cookie), or an admin's API token
 * as a bearer token or as the basic-auth password (in development also STAFF_TOKEN).
 */
export function mountBullBoard(app: Hono<any>, queues: Queue[], auth: StaffAuthDeps, base = '/admin/queues'): void {
  const guard = [staffAuth(auth, { csrfToken: false }), requireRole('admin'), boardPrivacy()] as const;
  app.use(`${base}/*`, ...guard);
  app.use(base, ...guard);
  // The board (its UI, lodash, ejs: a few MB of heap) is loaded at its first request, not at start: most gateways
  // never show it.
  let board: Promise<Hono> | null = null;
  const serve = async (c: { req: { raw: Request }; env: unknown }) => {
    board ??= loadBoard(queues, base).catch((err: unknown) => {
      board = null;
      throw err;
    });
    return (await board).fetch(c.req.raw, c.env);
  };
  app.all(`${base}/*`, serve);
  app.all(base, serve);
}

async function loadBoard(queues: Queue[], base: string): Promise<Hono> {
  const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }, { serveStatic }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/hono'),
    import('@hono/node-server/serve-static'),
  ]);
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: queues.map((q) => {
      const a = new BullMQAdapter(q);
      a.setFormatter('data', maskJobData);
      return a;
    }),
    serverAdapter: adapter,
  });
  adapter.setBasePath(base);
  return new Hono().route(base, adapter.registerPlugin());
}
