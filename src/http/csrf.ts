import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { raw } from 'hono/html';
import type { StaffSession } from '../staff/types.js';
import { ApiError } from './errors.js';

/**
 * Browser-facing pieces of staff sign-in: the session cookie, where a request really came from (behind a TLS
 * proxy), and CSRF: the Origin check (hono's csrf middleware) and a per-session token that every form carries.
 */
export const SESSION_COOKIE = 'lg_staff';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE = /^(GET|HEAD|OPTIONS)$/;
const FORM = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i;

/** Over TLS, or (with TRUST_PROXY) behind a proxy that says the client spoke https. */
export function isSecure(c: Context, trustProxy: boolean): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return trustProxy && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** The origin the browser saw: what a same-origin request's Origin header says. */
export function requestOrigin(c: Context, trustProxy: boolean): string {
  const host = c.req.header('host') ?? new URL(c.req.url).host;
  return `${isSecure(c, trustProxy) ? 'https' : 'http'}://${host}`;
}

/** Over TLS the cookie is `__Host-` prefixed (Secure, Path=/, no Domain): nothing served over http can set it. */
export function setSessionCookie(c: Context, token: string, expiresAt: number, now: number, trustProxy: boolean): void {
  const secure = isSecure(c, trustProxy);
  setCookie(c, SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure,
    maxAge: Math.max(1, Math.floor((expiresAt - now) / 1000)),
    ...(secure ? { prefix: 'host' as const } : {}),
  });
}

export function clearSessionCookie(c: Context, trustProxy: boolean): void {
  const secure = isSecure(c, trustProxy);
  setCookie(c, SESSION_COOKIE, '', { path: '/', httpOnly: true, sameSite: 'Strict', secure, maxAge: 0, ...(secure ? { prefix: 'host' as const } : {}) });
}

export function readSessionCookie(c: Context, trustProxy: boolean): string | undefined {
  return isSecure(c, trustProxy) ? getCookie(c, SESSION_COOKIE, 'host') : getCookie(c, SESSION_COOKIE);
}

/**
 * hono's csrf middleware: a form post (urlencoded, multipart, text/plain) must come from our own origin (Origin or
 * Sec-Fetch-Site). Its refusal answers in the one error envelope.
 */
export function sameOriginForms(trustProxy: boolean): MiddlewareHandler {
  const check = csrf({ origin: (origin, c) => origin === requestOrigin(c, trustProxy) });
  return async (c, next) => {
    try {
      await check(c, async () => {});
    } catch {
      throw new ApiError(403, 'forbidden', 'cross-site form post refused (Origin is not this site)');
    }
    await next();
  };
}

/**
 * For requests that ride on the session cookie, whatever their content type: the browser must say the request
 * came from this site (Sec-Fetch-Site: same-origin, or an Origin equal to ours).
 */
export function assertSameOrigin(c: Context, trustProxy: boolean): void {
  if (SAFE.test(c.req.method)) return;
  if (c.req.header('sec-fetch-site') === 'same-origin') return;
  if (c.req.header('origin') === requestOrigin(c, trustProxy)) return;
  throw new ApiError(403, 'forbidden', 'cross-site request refused (Origin is not this site)');
}

const digest = (s: string) => createHash('sha256').update(s).digest();
/** The session staffAuth put on the context (any app env: pages and middleware of every kind use these helpers). */
const sessionOf = (c: Context) => (c.var as { staffSession?: StaffSession }).staffSession;

/** The per-session CSRF token of an unsafe request: the X-CSRF-Token header, or a form's `_csrf` field. */
export async function assertCsrfToken(c: Context, session: StaffSession): Promise<void> {
  if (SAFE.test(c.req.method)) return;
  let given = c.req.header(CSRF_HEADER);
  if (!given && FORM.test(c.req.header('content-type') ?? '')) {
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const v = body[CSRF_FIELD];
    if (typeof v === 'string') given = v;
  }
  if (!given || !timingSafeEqual(digest(given), digest(session.csrf))) {
    throw new ApiError(403, 'forbidden', `the form's CSRF token is missing or wrong (${CSRF_FIELD} field or ${CSRF_HEADER} header); reload the page`);
  }
}

/** Middleware form of assertCsrfToken, for routes behind staffAuth (which already applies it to cookie sessions). */
export function requireCsrfToken(): MiddlewareHandler {
  return async (c, next) => {
    const session = sessionOf(c);
    if (session) await assertCsrfToken(c, session);
    await next();
  };
}

/** The hidden field every staff form must carry: `<form method="post">${csrfField(c)}…</form>`. */
export function csrfField(c: Context) {
  const token = sessionOf(c)?.csrf ?? '';
  // base64url: nothing to escape, but never trust that silently
  return raw(`<input type="hidden" name="${CSRF_FIELD}" value="${token.replace(/[^A-Za-z0-9_-]/g, '')}">`);
}
