import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Courier } from '../parcels/accounts.js';
import type { StaffService } from '../staff/service.js';
import { BOOTSTRAP_IDENTITY, ROLE_RANK, type StaffIdentity, type StaffRole, type StaffSession } from '../staff/types.js';
import { assertCsrfToken, assertSameOrigin, readSessionCookie } from './csrf.js';
import type { ClientAddress, CourierAuth, ResidentSessions } from './deps.js';
import { ApiError } from './errors.js';

function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
export const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/** Couriers: `Authorization: Bearer lgc_…` (tokens are stored hashed; issue and revoke them as staff). */
export function courierAuth(couriers: CourierAuth): MiddlewareHandler<{ Variables: { courier: Courier } }> {
  return async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    const courier = token ? await couriers.authenticate(token) : null;
    if (!courier) throw new ApiError(401, 'unauthorized', 'a valid courier token is required (Authorization: Bearer lgc_…)');
    c.set('courier', courier);
    await next();
  };
}

export interface StaffAuthDeps {
  staff: StaffService;
  /** STAFF_TOKEN: a development bootstrap (an admin named `bootstrap`); refused when `production` */
  bootstrapToken: string | null;
  production: boolean;
  trustProxy: boolean;
  clientAddress: ClientAddress;
}

export type StaffVars = {
  staff: StaffIdentity;
  /** how the request proved it: session cookie, a member's API token, or the development bootstrap token */
  staffVia: 'session' | 'token' | 'bootstrap';
  /** with a session cookie: the session (its CSRF token renders into forms) */
  staffSession?: StaffSession;
};
export type StaffEnv = { Variables: StaffVars };

/**
 * Staff: a session cookie (from the login), or `Authorization: Bearer lgs_…` (a member's API token), or the same
 * token as the password of HTTP basic auth (Bull Board in a browser). Sets `c.var.staff = {id, name, role}`.
 * A request riding on the cookie that changes anything must come from this site and carry the session's CSRF
 * token. STAFF_TOKEN acts as the admin `bootstrap` in development only; production refuses it.
 */
export function staffAuth(
  deps: StaffAuthDeps,
  /** csrfToken false: the Origin check alone (Bull Board's own script cannot send our token; it sends JSON) */
  opts: { csrfToken?: boolean } = {},
): MiddlewareHandler<StaffEnv> {
  return async (c, next) => {
    const refuse = (message = 'staff credentials required: sign in, or Authorization: Bearer lgs_…'): never => {
      c.header('WWW-Authenticate', 'Basic realm="locker-gateway staff"');
      throw new ApiError(401, 'unauthorized', message);
    };
    // Already signed in by an earlier staffAuth on an overlapping path (route modules each guard their own paths).
    if (c.var.staff) return next();
    const header = c.req.header('authorization') ?? '';
    let given = bearer(header);
    const basic = /^Basic\s+(\S+)$/i.exec(header);
    if (!given && basic) given = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':');
    if (header) {
      if (!given) refuse();
      const member = await deps.staff.authenticateToken(given!);
      if (member) {
        c.set('staff', member.member);
        c.set('staffVia', 'token');
      } else if (deps.bootstrapToken && sameSecret(given!, deps.bootstrapToken)) {
        if (deps.production) refuse('STAFF_TOKEN is a development bootstrap and is refused in production: sign in as a named member');
        c.set('staff', BOOTSTRAP_IDENTITY);
        c.set('staffVia', 'bootstrap');
      } else refuse('this staff token is not valid (unknown, revoked, or its member is disabled)');
    } else {
      const cookie = readSessionCookie(c, deps.trustProxy);
      const s = cookie ? await deps.staff.session(cookie) : null;
      if (!s) refuse(cookie ? 'the session has ended: sign in again' : undefined);
      assertSameOrigin(c, deps.trustProxy);
      if (opts.csrfToken !== false) await assertCsrfToken(c, s!.session);
      c.set('staff', s!.member);
      c.set('staffVia', 'session');
      c.set('staffSession', s!.session);
    }
    await next();
  };
}

/** After staffAuth: refuse members below `role` (admins may do everything staff may). */
export function requireRole(role: StaffRole): MiddlewareHandler<StaffEnv> {
  return async (c, next) => {
    const who = c.var.staff;
    if (!who) throw new ApiError(401, 'unauthorized', 'staff credentials required');
    if (ROLE_RANK[who.role] < ROLE_RANK[role]) throw new ApiError(403, 'forbidden', `this needs the ${role} role; ${who.name} is ${who.role}`);
    await next();
  };
}

export type ResidentEnv = { Variables: { resident: { phone: string } } };

/** The resident's token from the Authorization header, if the request carries one (`Bearer lgr_…`). */
export function residentToken(c: Context): string | null {
  return bearer(c.req.header('authorization'));
}

/** Residents signed in by SMS: `Authorization: Bearer lgr_…`. Sets `c.var.resident = {phone}`. */
export function residentAuth(signIn: Pick<ResidentSessions, 'authenticate'>): MiddlewareHandler<ResidentEnv> {
  return async (c, next) => {
    const token = residentToken(c);
    const s = token ? await signIn.authenticate(token) : null;
    if (!s) throw new ApiError(401, 'unauthorized', 'a valid resident token is required (sign in: POST /v1/resident/otp, then /v1/resident/session)');
    c.set('resident', { phone: s.phone });
    await next();
  };
}
