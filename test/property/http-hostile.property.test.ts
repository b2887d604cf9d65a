/**
 * Every route of the OpenAPI document, given hostile bodies, headers, sizes and paths, answers a 4xx in the one error
 * envelope, never a 5xx, and changes nothing (issue 13). Against the real gateway and its redis-server; "nothing" is
 * every key under the prefix with its value, before and after.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { UNITS } from '../../devices/units.js';
import { Stack } from '../support/stack.js';

const stack = new Stack('embedded', { EVIDENCE_CHECKPOINT_S: '86400' });
/** Ids that name something: the units, the staff members, compartment numbers. */
const realIds: string[] = [];
let routes: { method: string; path: string; body: boolean }[] = [];

beforeAll(async () => {
  await stack.start();
  const doc = (await stack.get('/openapi.json')).body as { paths: Record<string, Record<string, { requestBody?: { required?: boolean } }>> };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([m]) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
      .map(([method, op]) => ({ method: method.toUpperCase(), path, body: op.requestBody?.required === true })),
  );
  // a member, so that staff ids that exist are among the paths tried
  const added = await stack.post('/v1/admin/staff', { name: 'fuzz-admin', role: 'admin', password: 'correct horse battery staple 42' }, { authorization: `Bearer ${DEV_STAFF_TOKEN}` });
  expect(added.status, JSON.stringify(added.body)).toBe(201);
  const staff = (await stack.staffGet('/v1/admin/staff')).body as { members: { id: string }[] };
  realIds.push(...UNITS.map((u) => u.id), ...staff.members.map((m) => m.id), '1', '7', '12');
}, 60_000);
afterAll(() => stack.stop());

/**
 * Keys that hostile requests may legitimately write, each for a reason:
 * - failed sign-in / API attempts and their locks (`apifail:`, `apilock:`, `loginfail:`, `loginlock:`, `otpreq:`,
 *   `otpreqlock:`): counting a wrong password or code is the defence against guessing; the requests change nothing
 *   else;
 * - BullMQ's own keys (`bull:`): its workers write their stalled-job checks on a timer, whatever the API does;
 * - `edge:site-alive`: the site's heartbeat to the edge, rewritten every few seconds.
 */
const BOOKKEEPING = /^lg:(apifail|apilock|loginfail|loginlock|otpreq|otpreqlock|bull):|^lg:edge:site-alive$/;

/**
 * Every other key under the prefix with its value. Streams by their entries: their consumer groups' cursors move as
 * the parcel and alert engines catch up, on their own time; the entries are the state.
 */
async function state(): Promise<Map<string, string>> {
  const r = stack.gw!.redis;
  const out = new Map<string, string>();
  const all = (await r.keys('lg:*')).filter((k) => !BOOKKEEPING.test(k)).sort();
  const types = await Promise.all(all.map((k) => r.type(k)));
  await Promise.all(
    all.map(async (k, i) => {
      if (types[i] !== 'stream') out.set(k, (await r.dumpBuffer(k))?.toString('base64') ?? 'gone');
      else {
        const entries = await r.xrange(k, '-', '+');
        // an empty stream is no state: readers create theirs (XGROUP CREATE ... MKSTREAM) when they start
        if (entries.length) out.set(k, JSON.stringify(entries));
      }
    }),
  );
  return out;
}

function changed(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
}

const hostileSegment = fc.oneof(
  fc.constantFrom(
    '..',
    '%2e%2e',
    '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
    '..%2f..%2f..%2fetc%2fpasswd',
    '%252e%252e%252f',
    '%c0%ae%c0%ae%c0%af',
    '%5c..%5c..%5cwindows',
    '%00',
    'a%00b',
    '%ff',
    '%',
    '%zz',
    '%E4%B8%AD%E6%96%87',
    '%F0%9F%92%A9',
    '%EF%BF%BF',
    'NOPE',
    '0',
    '-1',
    '1e9',
    '0x1f',
    '99999999999999999999',
    "'; DROP TABLE x;--",
    '%3Cscript%3E',
    '__proto__',
    'constructor',
    '%20',
    'a'.repeat(300),
    'x'.repeat(5000),
  ),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent),
);
/** Bodies of the shapes the staff routes take (a reason, a service switch, a note, a role, an outcome). */
const GOOD_BODIES = [
  '{"reason":"checked by staff"}',
  '{"outOfService":true,"reason":"repair"}',
  '{"enabled":true}',
  '{"note":"called the resident"}',
  '{"role":"admin"}',
  '{"outcome":"found","note":"in the office"}',
];
const big = (n: number) => JSON.stringify({ note: 'y'.repeat(n), reason: 'y'.repeat(n) });
const hostileBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '',
    '{"a":',
    'null',
    '{}',
    '[]',
    '\u0000',
    '\ufeff{}',
    '{"a":1,"a":2}',
    '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}',
    '[' + '['.repeat(5000) + ']'.repeat(5000) + ']',
    '{"n":1e999999}',
    big(40 * 1024), // 80 KiB: past the 64 KiB body limit
    big(600 * 1024), // 1.2 MB
  ),
  // the right fields, wrong types and values
  fc
    .record(
      {
        reason: fc.oneof(fc.string(), fc.constant(null), fc.integer()),
        compartment: fc.oneof(fc.integer(), fc.string(), fc.constant(-1), fc.constant(1e300)),
        phone: fc.oneof(fc.string(), fc.constant('+8613800000000'.repeat(20))),
        size: fc.constantFrom('S', 'XXL', 's', '', 7),
        tracking: fc.string(),
        code: fc.oneof(fc.string(), fc.integer()),
        until: fc.oneof(fc.integer(), fc.string()),
        name: fc.string(),
        password: fc.string(),
        outcome: fc.string(),
        enabled: fc.oneof(fc.string(), fc.integer()),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
);
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-16',
  'text/plain',
  'text/html',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'multipart/form-data',
  'application/octet-stream',
  'application/json, text/plain',
  ';;;',
  '',
);
/** Header name -> one or more values (more than one: the header is sent repeated). */
const hostileHeaders = fc.record(
  {
    authorization: fc.array(
      fc.constantFrom('Bearer ', 'Bearer lgc_x', 'Bearer lgs_' + 'a'.repeat(500), 'Basic ###', 'Bearer lgr_' + '0'.repeat(64), 'bearer', `Bearer ${'z'.repeat(6000)}`),
      { minLength: 1, maxLength: 2 },
    ),
    'content-type': fc.array(contentType, { minLength: 1, maxLength: 2 }),
    'content-encoding': fc.constantFrom(['gzip'], ['br'], ['identity'], ['x-nope']),
    'idempotency-key': fc.array(fc.constantFrom('', 'k'.repeat(500), 'a|b', '\u00e9', 'same', '../../x'), { minLength: 1, maxLength: 2 }),
    'x-forwarded-for': fc.constantFrom(['1.2.3.4'], ['not-an-ip'], ['1.2.3.4, 5.6.7.8'], ['::1', '127.0.0.1']),
    cookie: fc.constantFrom(['lg_staff=abc'], ['__Host-lg_staff=' + 'z'.repeat(300)], ['a=1', 'a=2'], ['=;;=']),
    origin: fc.constantFrom(['https://evil.example'], ['null']),
    'accept-language': fc.constantFrom(['zh-CN,zh;q=0.9'], ['*;q=abc'], ['x'.repeat(2000)]),
    'x-http-method-override': fc.constantFrom(['DELETE'], ['PUT']),
  },
  { requiredKeys: [] },
);

function headersOf(h: Partial<Record<string, readonly string[]>>, extra: Record<string, string> = {}): Headers {
  const out = new Headers();
  for (const [name, values] of Object.entries(h)) {
    for (const v of values ?? []) {
      // fetch refuses some byte sequences in header values itself: those never reach a server
      const clean = v.replace(/[^\x20-\x7e]/g, '?');
      if (clean) out.append(name, clean);
    }
  }
  for (const [name, v] of Object.entries(extra)) out.set(name, v);
  return out;
}

/** The one error envelope: `{ error: { code, message, requestId } }`, as JSON. */
function expectEnvelope(res: Response, text: string, what: string): void {
  expect(res.headers.get('content-type') ?? '', `${what}: content type of ${text.slice(0, 200)}`).toContain('application/json');
  const b = JSON.parse(text) as { error?: { code?: string; message?: string; requestId?: string } };
  expect(b.error?.code, `${what}: ${text.slice(0, 200)}`).toMatch(/^[a-z_]+$/);
  expect(typeof b.error?.message, what).toBe('string');
  expect(typeof b.error?.requestId, what).toBe('string');
}

function pathOf(route: { path: string }, segs: string[]): string {
  let i = 0;
  return route.path.replace(/\{[^}]+\}/g, () => segs[i++ % segs.length]!);
}

async function send(method: string, path: string, headers: Headers, body: string | undefined): Promise<{ res: Response; text: string }> {
  const init: RequestInit = { method, headers };
  if (body !== undefined && method !== 'GET' && method !== 'HEAD') init.body = body;
  const res = await fetch(stack.gw!.url + path, init);
  return { res, text: await res.text() };
}

/**
 * Staff actions in the office evidence chain. Counted by actor, not by the chain's length: the gateway's own
 * engines (alerts raised and cleared, claim clocks) write to the same chain at their own times.
 */
async function staffActionsRecorded(): Promise<number> {
  const entries = await stack.gw!.redis.xrange('lg:evidence:office', '-', '+');
  let n = 0;
  for (const [, fields] of entries) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'e' && (JSON.parse(fields[i + 1]!) as { actor?: { type?: string } }).actor?.type === 'staff') n++;
    }
  }
  return n;
}

describe('hostile requests to every route', () => {
  it('anyone: refused with a 4xx in the error envelope (public reads may answer), never 5xx, and nothing changes', async () => {
    expect(routes.length).toBeGreaterThan(20);
    const before = await state();
    expect(before.size).toBeGreaterThan(0);
    // Every route in turn, each with its own runs: drawn at random from 73 routes, 600 runs left one route untried
    // about once in fifty (a CI failure); in turn, each is tried with as many hostile requests.
    const runsEach = Math.ceil(600 / routes.length);
    let tried = 0;
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(fc.array(hostileSegment, { minLength: 3, maxLength: 3 }), hostileBody, hostileHeaders, async (segs, body, headers) => {
          const path = pathOf(route, segs);
          const { res, text } = await send(route.method, path, headersOf(headers), body);
          const what = `${route.method} ${path.slice(0, 200)} -> ${res.status}`;
          tried++;
          expect(res.status, `${what} ${text.slice(0, 300)}`).toBeLessThan(500);
          // the public reads (health, the OpenAPI document, the status page) answer anyone; nothing else does
          if (route.method !== 'GET') expect(res.status, `${what} ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
          if (res.status >= 400) expectEnvelope(res, text, what);
        }),
        { numRuns: runsEach },
      );
    }
    expect(changed(before, await state())).toEqual([]);
    expect(tried).toBe(routes.length * runsEach);
  }, 240_000);

  it('as staff, with ids that name nothing and bodies that say nothing: never 5xx, refused in the envelope, nothing changes', async () => {
    const before = await state();
    const staff = { authorization: `Bearer ${DEV_STAFF_TOKEN}` };
    // Signing out needs no body and no id: whatever is sent with it, it is done, and recorded in the office chain
    // (a staff action). A fleet lockdown needs no id and only a `reason`, which a random JSON object may carry (seen:
    // {"reason":"! !"}), and this token is an admin's: then it is done, rightly. Both left out; everything else here
    // must be refused, or be a read, and change nothing.
    const staffRoutes = routes.filter((r) => r.path !== '/v1/staff/logout' && !(r.method === 'POST' && r.path === '/v1/admin/lockdown'));
    let refused = 0;
    let writes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...staffRoutes),
        fc.array(hostileSegment, { minLength: 3, maxLength: 3 }),
        hostileBody,
        contentType,
        fc.constantFrom(undefined, 'same', 'k'.repeat(300)),
        async (route, segs, body, ct, idem) => {
          const path = pathOf(route, segs);
          const office = await staffActionsRecorded();
          const extra: Record<string, string> = { ...staff, ...(ct ? { 'content-type': ct } : {}), ...(idem ? { 'idempotency-key': idem } : {}) };
          const { res, text } = await send(route.method, path, headersOf({}, extra), body);
          const what = `${route.method} ${path.slice(0, 200)} -> ${res.status}`;
          expect(res.status, `${what} ${text.slice(0, 300)}`).toBeLessThan(500);
          if (res.status >= 400) expectEnvelope(res, text, what);
          expect(await staffActionsRecorded(), `${what}: a staff action was recorded`).toBe(office);
          if (route.method !== 'GET') {
            writes++;
            if (res.status >= 400) refused++;
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(changed(before, await state())).toEqual([]);
    expect(refused).toBe(writes);
  }, 240_000);

  it('as staff, bodies a route would take at ids that name nothing: refused, nothing recorded, nothing changes', async () => {
    const withIds = routes.filter((r) => r.body && r.path.includes('{'));
    expect(withIds.length).toBeGreaterThan(5);
    const before = await state();
    const office = await staffActionsRecorded();
    for (const route of withIds) {
      for (const id of ['p_nothing', 'NOPE', '99999', '..']) {
        for (const body of GOOD_BODIES) {
          const path = pathOf(route, [id, '99', id].map(encodeURIComponent));
          const headers = headersOf({}, { authorization: `Bearer ${DEV_STAFF_TOKEN}`, 'content-type': 'application/json' });
          const { res, text } = await send(route.method, path, headers, body);
          const what = `${route.method} ${path} ${body} -> ${res.status}`;
          expect(res.status, `${what} ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${what} ${text.slice(0, 200)}`).toBeLessThan(500);
          expectEnvelope(res, text, what);
          // a refused staff request is no staff action (it was: a refused staff open of no parcel was recorded)
          expect(await staffActionsRecorded(), `${what}: a staff action was recorded`).toBe(office);
        }
      }
    }
    expect(changed(before, await state())).toEqual([]);
  }, 240_000);

  it('as staff, at ids that exist, a body that is not what the route takes: refused in the envelope, nothing changes', async () => {
    const withBody = routes.filter((r) => r.body);
    expect(withBody.length).toBeGreaterThan(10);
    expect(realIds.length, 'a staff member among the ids').toBeGreaterThan(UNITS.length + 3);
    const before = await state();
    // Random JSON that is not an object, text, broken and oversize bodies. Not objects: with real ids one could be
    // right, and a route whose fields are all optional (an API token's label) takes any object, its unknown keys
    // ignored: {"":null} issued a token (a CI failure).
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('', '{"a":', 'null', '[]', '\u0000', '{"__proto__":{"admin":true}}', big(40 * 1024)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...withBody), fc.array(fc.constantFrom(...realIds), { minLength: 3, maxLength: 3 }), body, contentType, async (route, segs, b, ct) => {
        const path = pathOf(route, segs.map(encodeURIComponent));
        const headers = headersOf({}, { authorization: `Bearer ${DEV_STAFF_TOKEN}`, ...(ct ? { 'content-type': ct } : {}) });
        const { res, text } = await send(route.method, path, headers, b);
        const what = `${route.method} ${path} -> ${res.status}`;
        expect(res.status, `${what} ${b.slice(0, 100)} ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${what} ${text.slice(0, 300)}`).toBeLessThan(500);
        expectEnvelope(res, text, what);
      }),
      { numRuns: 300 },
    );
    expect(changed(before, await state())).toEqual([]);
  }, 240_000);

  it('a body past the limit is refused whole (413 in the envelope), sent at once or streamed without a length', async () => {
    const posts = routes.filter((r) => r.method === 'POST' && !r.path.includes('{'));
    expect(posts.length).toBeGreaterThan(3);
    const before = await state();
    for (const route of posts) {
      const headers = headersOf({}, { authorization: `Bearer ${DEV_STAFF_TOKEN}`, 'content-type': 'application/json' });
      const { res, text } = await send('POST', route.path, headers, big(300 * 1024));
      expect(res.status, `${route.path}: ${text.slice(0, 200)}`).toBe(413);
      expectEnvelope(res, text, route.path);
      const chunks = [Buffer.from('{"reason":"'), ...Array.from({ length: 40 }, () => Buffer.alloc(4096, 0x61)), Buffer.from('"}')];
      const stream = new ReadableStream<Uint8Array>({
        pull(ctrl) {
          const c = chunks.shift();
          if (c) ctrl.enqueue(c);
          else ctrl.close();
        },
      });
      const r2 = await fetch(stack.gw!.url + route.path, { method: 'POST', headers, body: stream, duplex: 'half' } as RequestInit);
      const t2 = await r2.text();
      expect(r2.status, `${route.path} (streamed): ${t2.slice(0, 200)}`).toBe(413);
      expectEnvelope(r2, t2, `${route.path} (streamed)`);
    }
    expect(changed(before, await state())).toEqual([]);
  }, 120_000);
});
