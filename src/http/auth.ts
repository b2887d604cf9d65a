import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Courier, Couriers } from '../parcels/accounts.js';
import { ApiError } from './errors.js';

function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
export const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/** Couriers: `Authorization: Bearer lgc_…` (tokens are stored hashed; issue and revoke them as staff). */
export function courierAuth(couriers: Couriers): MiddlewareHandler<{ Variables: { courier: Courier } }> {
  return async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    const courier = token ? await couriers.authenticate(token) : null;
    if (!courier) throw new ApiError(401, 'unauthorized', 'a valid courier token is required (Authorization: Bearer lgc_…)');
    c.set('courier', courier);
    await next();
  };
}

/** Staff: the STAFF_TOKEN as a bearer token, or as the password of HTTP basic auth (for pages in a browser). */
export function staffAuth(token: string): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    let given = bearer(header);
    const basic = /^Basic\s+(\S+)$/i.exec(header);
    if (!given && basic) given = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':');
    if (!given || !sameSecret(given, token)) {
      c.header('WWW-Authenticate', 'Basic realm="locker-gateway staff"');
      throw new ApiError(401, 'unauthorized', 'staff credentials required');
    }
    await next();
  };
}

/**
 * The client's address, for per-address limits. With TRUST_PROXY, the last X-Forwarded-For entry: the one our own
 * proxy appended (everything before it is whatever the client chose to send).
 */
export function clientAddress(c: Parameters<MiddlewareHandler>[0], trustProxy: boolean): string {
  if (trustProxy) {
    const xff = c.req.header('x-forwarded-for');
    const last = xff?.split(',').at(-1)?.trim();
    if (last) return last;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
