import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import type { Parcel } from '../../src/domain/parcel.js';
import { UNITS } from '../../devices/units.js';
import { createApp } from '../../src/http/app.js';
import type { ApiDeps, ParcelApi } from '../../src/http/deps.js';
import { ApiError } from '../../src/http/errors.js';
import { silentLogger } from '../../src/log.js';
import { DEFAULT_PREFS, type Courier } from '../../src/parcels/accounts.js';
import { ParcelError } from '../../src/parcels/errors.js';

/** Pure route tests: createApp with in-memory deps (no Redis, no broker). */
const COURIER: Courier = { id: 'c_1', name: 'A', carrier: 'SF', webhookUrl: null, webhookSecret: null, active: true, createdAt: 0 };
const parcel = (over: Partial<Parcel> = {}): Parcel =>
  ({
    id: 'p_1', state: 'reserved', unit: UNITS[0]!.id, compartment: 3, size: 'S', trackingNumber: 'T1234', carrier: 'SF', phone: '13800138000',
    createdAt: 1, storedAt: null, deadline: null, endedAt: null, extended: false, reason: null, courierId: 'c_1', ...over,
  }) as Parcel;

function world(overrides: Partial<ParcelApi> = {}) {
  const clock = new ManualClock();
  const calls: { op: string; args: unknown[] }[] = [];
  const rec = <T>(op: string, v: T) => async (...args: unknown[]) => (calls.push({ op, args }), v);
  const parcels: ParcelApi = {
    profile: (unit) => UNITS.find((u) => u.id === unit)!,
    deposit: rec('deposit', parcel()),
    remotePickup: rec('remotePickup', { compartment: 3, parcels: [parcel({ state: 'stored' })], result: 'done' as const }),
    returnParcel: rec('returnParcel', { parcel: parcel(), result: 'done' as const }),
    get: rec('get', parcel()),
    residentParcels: rec('residentParcels', []),
    extend: rec('extend', parcel()),
    extendOwn: rec('extendOwn', parcel()),
    residentHistory: rec('residentHistory', []),
    ...overrides,
  };
  const api: ApiDeps = {
    parcels,
    couriers: { authenticate: async (t) => (t === 'lgc_good' ? COURIER : null) },
    residents: { prefs: async () => DEFAULT_PREFS, setPrefs: async (_p, c, now) => ({ ...DEFAULT_PREFS, ...c, updatedAt: now ?? null }) },
    residentSignIn: {
      requestCode: async () => ({ ok: true, expiresAt: clock.now() + 300_000 }),
      verify: async () => ({ ok: false, reason: 'no_code' }),
      authenticate: async (t) => (t === 'lgr_good' ? { phone: '13800138000', expiresAt: clock.now() + 1 } : null),
      signOut: async () => undefined,
    },
    idempotency: { perform: (_k, _c, _r, key, fn) => fn(`ref-${key ?? 'fresh'}`) },
  };
  const app = createApp({
    logger: silentLogger,
    health: { redis: async () => true, mqtt: () => true },
    runtime: { clock, ids: { next: () => 'ID1' }, clientAddress: () => '203.0.113.9' },
    api,
    siteOnly: { gateway: 'gw-test' },
  });
  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  };
  return { app, calls, clock, send };
}

const PICKUP = { unit: UNITS[0]!.id, code: '123456', phone: '13800138000', presenceCode: '1234' };

describe('routes over in-memory deps', () => {
  it('a pickup passes the client address and a fresh ref from the runtime deps to the door request', async () => {
    const w = world();
    const r = await w.send('POST', '/v1/pickups', PICKUP);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ compartment: 3, result: 'done' });
    expect(w.calls).toEqual([{ op: 'remotePickup', args: [{ ...PICKUP, client: '203.0.113.9', ref: 'ref-fresh' }] }]);
  });

  it('a domain error from the door request answers in the one envelope (locked_out: 429 with Retry-After)', async () => {
    const w = world({ remotePickup: async () => Promise.reject(new ParcelError('locked_out', 'too many', { retryAfterS: 42 })) });
    const r = await w.send('POST', '/v1/pickups', PICKUP);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('42');
    expect(r.body.error).toMatchObject({ code: 'locked_out', message: 'too many' });
  });

  it('site_unavailable from the edge queue is a 503 naming the gateway; the deposit needs a courier token', async () => {
    const w = world({ deposit: async () => Promise.reject(new ApiError(503, 'site_unavailable', 'the site gateway (gw-test) is unavailable', { gateway: 'gw-test' })) });
    const body = { unit: UNITS[0]!.id, size: 'S', trackingNumber: 'T1234', carrier: 'SF', phone: '13800138000' };
    expect((await w.send('POST', '/v1/deposits', body)).status).toBe(401);
    const r = await w.send('POST', '/v1/deposits', body, { authorization: 'Bearer lgc_good' });
    expect(r.status).toBe(503);
    expect(r.body.error).toMatchObject({ code: 'site_unavailable', details: { gateway: 'gw-test' } });
  });

  it('bad input names the field; site-only routes answer 501 naming the site gateway; the clock dates resident history', async () => {
    const w = world();
    const bad = await w.send('POST', '/v1/pickups', { ...PICKUP, code: '12' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields).toEqual([{ field: 'code', problem: 'must be 6 digits' }]);
    for (const path of ['/v1/units', '/v1/admin/couriers', '/v1/staff/me', '/metrics']) {
      const r = await w.send('GET', path);
      expect(r.status, path).toBe(501);
      expect(r.body.error).toMatchObject({ code: 'site_only', details: { gateway: 'gw-test' } });
    }
    const h = await w.send('GET', '/v1/resident/parcels', undefined, { authorization: 'Bearer lgr_good' });
    expect(h.status).toBe(200);
    expect(w.calls.at(-1)).toEqual({ op: 'residentHistory', args: ['13800138000', w.clock.now() - 30 * 24 * 3600_000] });
  });
});
