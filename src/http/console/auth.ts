import type { MiddlewareHandler } from 'hono';
import type { StaffAuthDeps, StaffEnv } from '../auth.js';
import { assertCsrfToken, assertSameOrigin, readSessionCookie } from '../csrf.js';
import { ApiError } from '../errors.js';

/** Paths under /console that belong to the sign-in routes (routes/staff.ts), not to the pages. */
const SIGN_IN = new Set(['/console/login', '/console/logout']);

/**
 * The console is for people in a browser: a session cookie from the login page, nothing else (no API token, no
 * STAFF_TOKEN). Without a valid session a page redirects to the login page (and back here after it); the live
 * stream answers 401 (its script reloads the page, which then redirects). A form post must come from this site and
 * carry the session's CSRF token (the hidden `_csrf` field every console form has).
 */
export function consoleAuth(deps: StaffAuthDeps): MiddlewareHandler<StaffEnv> {
  return async (c, next) => {
    if (SIGN_IN.has(c.req.path)) return next();
    const cookie = readSessionCookie(c, deps.trustProxy);
    const s = cookie ? await deps.staff.session(cookie) : null;
    if (!s) {
      if (c.req.path === '/console/events' || c.req.header('x-console-live')) {
        throw new ApiError(401, 'unauthorized', cookie ? 'the session has ended: sign in again' : 'sign in at /console/login');
      }
      const url = new URL(c.req.url);
      const next = c.req.method === 'GET' ? `${url.pathname}${url.search}` : '/console';
      return c.redirect(`/console/login?${new URLSearchParams({ next })}`, 303);
    }
    assertSameOrigin(c, deps.trustProxy);
    await assertCsrfToken(c, s.session);
    c.set('staff', s.member);
    c.set('staffVia', 'session');
    c.set('staffSession', s.session);
    await next();
  };
}
