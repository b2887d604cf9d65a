import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import type { Clock } from '../domain/clock.js';
import { ulid } from '../domain/ids.js';
import type { UnitProfile } from '../domain/model.js';
import type { ApiDeps, ParcelApi, ResidentSessions, RuntimeDeps } from '../http/deps.js';
import { IdempotencyKeys } from '../http/idempotency.js';
import { Couriers, Residents } from '../parcels/accounts.js';
import { unitProfile } from '../parcels/context.js';
import { keys } from '../store/keys.js';
import { SITE_STREAM } from './protocol.js';
import { SiteQueue, type SiteQueueOptions } from './queue.js';

/**
 * The edge's implementation of the API deps. Reads that need no key (courier tokens are SHA-256 hashes, resident
 * preferences, Idempotency-Key fingerprints) go to Redis directly; door requests, pickup-code checks and sign-in
 * (keyed hashes, the SMS queue) are queued for the site gateway (SiteQueue), which runs them through its own services.
 * `redis()` returns this request's connection (a Worker may not share one socket between requests).
 */
export function edgeApiDeps(redis: () => Redis, o: Omit<SiteQueueOptions, 'now' | 'ids'> & { clock: Clock; units?: readonly UnitProfile[] }): ApiDeps {
  const units = o.units ?? UNITS;
  const known = new Set(units.map((u) => u.id));
  const q = new SiteQueue(redis, { ...o, now: () => o.clock.now(), ids: () => ulid(o.clock.now()) });
  // Only a unit this site has gets a lane of its own: a client's unit string never names a Redis key.
  const lane = (unit: string | undefined) => (unit && known.has(unit) ? unit : SITE_STREAM);
  const current = new Proxy({} as Redis, {
    get: (_t, prop) => {
      const r = redis() as unknown as Record<string | symbol, unknown>;
      const v = r[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
    },
  });
  const k = keys(o.prefix);

  const parcels: ParcelApi = {
    profile: (unit) => unitProfile(units, unit),
    deposit: (courier, input) => q.call(lane(input.unit), 'deposit', { courierId: courier.id, input }),
    remotePickup: (input) => q.call(lane(input.unit), 'remotePickup', { input }),
    returnParcel: (courier, parcelId, ref) => q.call(SITE_STREAM, 'returnParcel', { courierId: courier.id, parcelId, ref }),
    get: (id) => q.call(SITE_STREAM, 'get', { id }),
    residentParcels: (phone, code, client) => q.call(SITE_STREAM, 'residentParcels', { phone, code, client }),
    extend: (phone, code, parcelId, client) => q.call(SITE_STREAM, 'extend', { phone, code, parcelId, client }),
    extendOwn: (phone, parcelId) => q.call(SITE_STREAM, 'extendOwn', { phone, parcelId }),
    residentHistory: (phone, endedSince) => q.call(SITE_STREAM, 'residentHistory', { phone, endedSince }),
  };
  const residentSignIn: ResidentSessions = {
    requestCode: (phone, client) => q.call(SITE_STREAM, 'requestCode', { phone, client }),
    verify: (phone, code) => q.call(SITE_STREAM, 'verify', { phone, code }),
    authenticate: (token) => q.call(SITE_STREAM, 'authenticateResident', { token }),
    signOut: (token) => q.call(SITE_STREAM, 'signOut', { token }),
  };
  return {
    parcels,
    couriers: new Couriers(current, k),
    residents: new Residents(current, k),
    residentSignIn,
    idempotency: new IdempotencyKeys(current, o.prefix),
  };
}

/** Clock, ids and the client address at the edge: Cloudflare sets CF-Connecting-IP (a client cannot forge it there). */
export function edgeRuntime(clock: Clock): RuntimeDeps {
  return {
    clock,
    ids: { next: () => ulid(clock.now()) },
    clientAddress: (c) => c.req.header('cf-connecting-ip') ?? 'unknown',
  };
}
