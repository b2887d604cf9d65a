import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretsOf } from '../../src/config/credentials.js';
import { edgeKeys } from '../../src/edge/protocol.js';
import { EdgeWorker, buildEdge } from '../support/edge.js';
import { JSON_V1, ParcelWorld, presenceNow, type TestCourier } from '../support/parcels.js';
import { credentials, eventually } from '../support/stack.js';

/**
 * The edge end to end: the Worker in workerd (wrangler dev) against a real Redis and a running site gateway with
 * simulators. The Worker has only REDIS_URL: every door opens through the site gateway's consumer.
 */
describe('edge gateway (Worker in workerd)', () => {
  const w = new ParcelWorld();
  const edge = new EdgeWorker();
  const TIMEOUT_MS = 1500;
  let courier: TestCourier;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(edge.url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as any, headers: res.headers };
  };

  beforeAll(async () => {
    await w.start();
    await edge.start({
      REDIS_URL: w.stack.redis.url,
      REDIS_PREFIX: w.stack.config.REDIS_PREFIX,
      EDGE_SITE_TIMEOUT_MS: String(TIMEOUT_MS),
      EDGE_SITE_GRACE_MS: '10000',
      SITE_GATEWAY: 'site-gw-test',
    });
    courier = await w.courier();
  }, 90_000);
  afterAll(async () => {
    await edge.stop();
    await w.stop();
  });

  it('a deposit and a pickup through the Worker complete: the site gateway opens the doors, the SMS goes once', async () => {
    const phone = w.phone();
    const dep = await call('POST', '/v1/deposits', { unit: JSON_V1, size: 'S', phone, carrier: 'SF', trackingNumber: w.tracking() }, courier.auth);
    expect(dep.status, JSON.stringify(dep.body)).toBe(201);
    const no = dep.body.compartment as number;
    await w.doorOpen(JSON_V1, no);
    w.sim(JSON_V1).putParcel(no);
    w.sim(JSON_V1).closeDoor(no);
    // the courier follows the deposit through the Worker too
    await eventually(async () => (await call('GET', `/v1/deposits/${dep.body.id}`, undefined, courier.auth)).body.state === 'stored', 10_000, 'stored');
    const sms = await w.smsFor(`${dep.body.id}.stored`);
    const code = /(\d{6})/.exec((sms.body as { text: string }).text)![1]!;

    const pick = await call('POST', '/v1/pickups', { unit: JSON_V1, code, phone, presenceCode: presenceNow(JSON_V1) });
    expect(pick.status, JSON.stringify(pick.body)).toBe(200);
    expect(pick.body).toMatchObject({ compartment: no, result: 'done' });
    await w.doorOpen(JSON_V1, no);
    w.sim(JSON_V1).takeParcel(no);
    w.sim(JSON_V1).closeDoor(no);
    await w.waitState(courier, dep.body.id, 'collected');
    expect(w.smsTries(`${dep.body.id}.stored`)).toHaveLength(1);
  }, 60_000);

  it('a bad request gets the same error envelope as on Node; site-only routes name the site gateway', async () => {
    const bad = { unit: JSON_V1, code: '12', phone: 'x', presenceCode: '1' };
    const viaEdge = await call('POST', '/v1/pickups', bad);
    const viaNode = await w.request('POST', '/v1/pickups', bad);
    expect(viaEdge.status).toBe(400);
    expect(viaNode.status).toBe(400);
    const strip = (b: any) => ({ ...b.error, requestId: undefined });
    expect(strip(viaEdge.body)).toEqual(strip(viaNode.body));
    expect(viaEdge.body.error.requestId).toMatch(/.+/);
    const units = await call('GET', '/v1/units');
    expect(units.status).toBe(501);
    expect(units.body.error).toMatchObject({ code: 'site_only', details: { gateway: 'site-gw-test' } });
    const doc = await call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/deposits', '/v1/pickups', '/v1/resident/otp']));
  });

  it('the edge bundle builds and contains no unit credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-bundle-'));
    try {
      await buildEdge(dir);
      const bundle = readFileSync(join(dir, 'worker.js'), 'utf8').toLowerCase();
      expect(bundle.length).toBeGreaterThan(10_000);
      const secrets = secretsOf(credentials);
      expect(secrets.length).toBeGreaterThan(3);
      for (const s of secrets) expect(bundle.includes(s.value.toLowerCase()), s.path).toBe(false);
      expect(bundle).not.toContain('credentials.dev.json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a pickup while the site gateway is down answers 503 within its timeout, and is never run later', async () => {
    const phone = w.phone();
    const { parcel, code } = await w.storeParcel(courier, { unit: JSON_V1, size: 'S', phone });
    const redis = w.stack.redis.client();
    const k = edgeKeys(w.stack.config.REDIS_PREFIX);
    try {
      await w.stack.gw!.close(); // the site gateway is down; Redis stays up
      const t0 = Date.now();
      const r = await call('POST', '/v1/pickups', { unit: JSON_V1, code, phone, presenceCode: presenceNow(JSON_V1) });
      const elapsed = Date.now() - t0;
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.error).toMatchObject({ code: 'site_unavailable', details: { gateway: 'site-gw-test' } });
      expect(r.body.error.message).toContain('site-gw-test');
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 5_000);
      // the edge claimed the request as it gave up: the site will drop it unrun
      const entries = await redis.xrange(k.stream(JSON_V1), '-', '+');
      expect(entries).toHaveLength(1);
      const id = (JSON.parse(entries[0]![1][1]!) as { id: string }).id;
      expect(await redis.get(k.claim(id))).toBe('edge');

      // the site comes back: its consumer drops the queued pickup, the door stays shut, the parcel still waits
      await w.stack.startGateway();
      await eventually(async () => (await redis.xlen(k.stream(JSON_V1))) === 0, 15_000, 'queued pickup dropped');
      expect(await redis.exists(k.result(id))).toBe(0);
      expect(w.sim(JSON_V1).snapshot().doors[parcel.compartment]?.open ?? false).toBe(false);
      expect((await w.parcel(courier, parcel.id)).state).toBe('stored');
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
