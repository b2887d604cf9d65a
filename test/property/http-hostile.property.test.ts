/**
 * Every route of the OpenAPI document, given hostile bodies, headers, sizes and paths, answers a 4xx in the one error
 * envelope, never a 5xx, and changes no parcel, compartment or unit (issue 13). Against the real gateway.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../support/stack.js';

const stack = new Stack('embedded');
let routes: { method: string; path: string }[] = [];

beforeAll(async () => {
  await stack.start();
  const doc = (await stack.get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })));
});
afterAll(() => stack.stop());

/** What the state of parcels, compartments and units looks like (must not move). */
async function state(): Promise<string> {
  const r = stack.gw!.redis;
  const keys = (await r.keys('lg:*')).filter((k) => /^lg:(parcel|slot|slots|code|tracking|comp|unit|phone|deadlines|reservations):/.test(k) || /^lg:(deadlines|reservations|live)$/.test(k)).sort();
  const units = JSON.stringify((await stack.get('/v1/units')).body.units.map((u: { compartments: unknown[]; online: boolean }) => [u.online, u.compartments]));
  return `${keys.join(',')}|${units}`;
}

const hostileSegment = fc.oneof(
  fc.constantFrom('..', '%2e%2e', '%00', '%ff', 'NOPE', '0', '-1', '99999999999999999999', "'; DROP TABLE x;--", '<script>', '%E4%B8%AD', 'a'.repeat(300)),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
);
const hostileBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constant('{"a":'),
  fc.constant('[' + '['.repeat(5000) + ']'.repeat(5000) + ']'),
  fc.constant(JSON.stringify({ x: 'y'.repeat(70 * 1024) })),
  fc.constant('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}'),
);
const hostileHeaders = fc.record(
  {
    authorization: fc.constantFrom('Bearer ', 'Bearer lgc_x', 'Bearer lgs_' + 'a'.repeat(500), 'Basic ###', 'Bearer lgr_' + '0'.repeat(64)),
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''),
    'idempotency-key': fc.constantFrom('', 'k'.repeat(500), 'a|b', '\u00e9'),
    'x-forwarded-for': fc.constantFrom('1.2.3.4', 'not-an-ip', ''),
    cookie: fc.constantFrom('lg_staff=abc', '__Host-lg_staff=' + 'z'.repeat(300), ''),
  },
  { requiredKeys: [] },
);

describe('hostile requests to every route', () => {
  it('answer 4xx in the error envelope, never 5xx, and change nothing', async () => {
    expect(routes.length).toBeGreaterThan(20);
    const before = await state();
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.array(hostileSegment, { minLength: 3, maxLength: 3 }), hostileBody, hostileHeaders, async (route, segs, body, headers) => {
        let i = 0;
        const path = route.path.replace(/\{[^}]+\}/g, () => segs[i++ % segs.length]!);
        const init: RequestInit = { method: route.method, headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== '')) };
        if (route.method !== 'GET' && route.method !== 'HEAD') init.body = body;
        const res = await fetch(stack.gw!.url + path, init);
        const text = await res.text();
        seen.set(route.path, res.status);
        expect(res.status, `${route.method} ${path} -> ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
        if (res.status >= 400 && (res.headers.get('content-type') ?? '').includes('json')) {
          const b = JSON.parse(text) as { error?: { code?: string; message?: string; requestId?: string } };
          expect(b.error?.code, `${route.method} ${path}: ${text.slice(0, 200)}`).toMatch(/^[a-z_]+$/);
          expect(typeof b.error?.message).toBe('string');
        }
      }),
      { numRuns: 600 },
    );
    expect(await state()).toBe(before);
    // every route was tried
    expect([...seen.keys()].length).toBe(new Set(routes.map((r) => r.path)).size);
  });
});
