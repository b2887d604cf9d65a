import { Hono } from 'hono';
import { html } from 'hono/html';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { staffAuth, type StaffEnv } from '../../src/http/auth.js';
import { csrfField } from '../../src/http/csrf.js';
import { cookiePair, SignInWorld, type Res } from '../support/signin.js';

const PASSWORD = 'correct horse battery';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const BOOTSTRAP = bearer(DEV_STAFF_TOKEN);

/** Named staff against the real gateway: sessions, roles, tokens, CSRF, login limits, recorded actions. */
describe('named staff', () => {
  const w = new SignInWorld({ LOCKOUT_ATTEMPTS: '5' });
  let n = 0;
  beforeAll(() => w.start());
  afterAll(() => w.stop());

  const addMember = async (role: 'staff' | 'admin' = 'staff') => {
    const r = await w.request('POST', '/v1/admin/staff', { json: { name: `member${++n}`, role, password: PASSWORD }, headers: BOOTSTRAP });
    expect(r.status).toBe(201);
    return r.body as { id: string; name: string; role: string };
  };
  const login = async (name: string, password = PASSWORD, headers: Record<string, string> = w.client()): Promise<Res> =>
    w.request('POST', '/v1/staff/login', { json: { name, password }, headers });
  /** A signed-in browser: its cookie, CSRF token and the headers a same-site request carries. */
  const session = async (name: string) => {
    const r = await login(name);
    expect(r.status).toBe(200);
    const cookie = cookiePair(r.cookies[0]!);
    return { cookie, csrf: r.body.csrfToken as string, headers: { cookie, origin: w.origin } };
  };

  it('logs in with a session cookie (HttpOnly, SameSite=Strict), knows the member, logs out', async () => {
    const m = await addMember();
    const r = await login(m.name);
    expect(r.status).toBe(200);
    expect(r.body.member).toEqual({ id: m.id, name: m.name, role: 'staff' });
    const set = r.cookies[0]!;
    expect(set).toMatch(/^lg_staff=[A-Za-z0-9_-]{43};/);
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Max-Age=43200/); // STAFF_SESSION_HOURS 12
    expect(set).not.toMatch(/Secure/); // plain http, no proxy saying https

    const cookie = cookiePair(set);
    const me = await w.request('GET', '/v1/staff/me', { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ member: { id: m.id, name: m.name, role: 'staff' }, via: 'session', csrfToken: r.body.csrfToken });

    const out = await w.request('POST', '/v1/staff/logout', { headers: { cookie, origin: w.origin, 'x-csrf-token': r.body.csrfToken } });
    expect(out.status).toBe(204);
    expect(out.cookies[0]).toMatch(/^lg_staff=;.*Max-Age=0/);
    expect((await w.request('GET', '/v1/staff/me', { headers: { cookie } })).status).toBe(401);
  });

  it('marks the cookie Secure (and __Host-) when the proxy says the client spoke https', async () => {
    const m = await addMember();
    const r = await login(m.name, PASSWORD, { ...w.client(), 'x-forwarded-proto': 'https' });
    expect(r.status).toBe(200);
    expect(r.cookies[0]).toMatch(/^__Host-lg_staff=.*; Secure/);
    const cookie = cookiePair(r.cookies[0]!);
    expect((await w.request('GET', '/v1/staff/me', { headers: { cookie, 'x-forwarded-proto': 'https' } })).status).toBe(200);
    // the same cookie over plain http is not read (nothing served over http could have set a __Host- cookie)
    expect((await w.request('GET', '/v1/staff/me', { headers: { cookie } })).status).toBe(401);
  });

  it('ends a session after STAFF_SESSION_HOURS (injected clock)', async () => {
    const m = await addMember();
    const s = await session(m.name);
    w.offsetMs = 12 * 3600_000 - 1000;
    expect((await w.request('GET', '/v1/staff/me', { headers: s.headers })).status).toBe(200);
    w.offsetMs = 12 * 3600_000 + 1000;
    try {
      const late = await w.request('GET', '/v1/staff/me', { headers: s.headers });
      expect(late.status).toBe(401);
      expect(late.body.error.message).toMatch(/session has ended/);
    } finally {
      w.offsetMs = 0;
    }
  });

  it('refuses wrong passwords and unknown names alike', async () => {
    const m = await addMember();
    const wrong = await login(m.name, 'not the password');
    const unknown = await login('nobody-here', PASSWORD);
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect(wrong.body.error.message).toBe(unknown.body.error.message);
  });

  it('refuses without credentials, with a resident token, with the wrong role, a revoked token or a disabled member', async () => {
    expect((await w.request('GET', '/v1/admin/couriers')).status).toBe(401);
    expect((await w.request('GET', '/v1/admin/couriers', { headers: bearer('lgr_not-a-staff-token') })).status).toBe(401);

    const staff = await addMember('staff');
    const issued = await w.request('POST', `/v1/admin/staff/${staff.id}/tokens`, { json: { label: 'ci' }, headers: BOOTSTRAP });
    expect(issued.status).toBe(201);
    expect(issued.body.token).toMatch(/^lgs_/);
    const token = bearer(issued.body.token);
    // staff may work, admins manage
    expect((await w.request('GET', '/v1/admin/couriers', { headers: token })).status).toBe(200);
    const noRole = await w.request('POST', '/v1/admin/couriers', { json: { name: 'x', carrier: 'SF' }, headers: token });
    expect(noRole.status).toBe(403);
    expect(noRole.body.error.code).toBe('forbidden');
    expect((await w.request('GET', '/v1/admin/staff', { headers: token })).status).toBe(403);
    expect((await w.request('GET', '/admin/queues', { headers: token })).status).toBe(403);

    const listed = await w.request('GET', `/v1/admin/staff-tokens?member=${staff.id}`, { headers: BOOTSTRAP });
    expect(listed.body.tokens).toEqual([expect.objectContaining({ id: issued.body.record.id, label: 'ci', revokedAt: null, lastUsedAt: expect.any(Number) })]);
    expect(JSON.stringify(listed.body)).not.toContain(issued.body.token);

    // disabled: its token and its sessions stop working, and it cannot log in
    const s = await session(staff.name);
    expect((await w.request('POST', `/v1/admin/staff/${staff.id}/disable`, { headers: BOOTSTRAP })).status).toBe(200);
    expect((await w.request('GET', '/v1/admin/couriers', { headers: token })).status).toBe(401);
    expect((await w.request('GET', '/v1/staff/me', { headers: s.headers })).status).toBe(401);
    expect((await login(staff.name)).status).toBe(401);
    expect((await w.request('POST', `/v1/admin/staff/${staff.id}/enable`, { headers: BOOTSTRAP })).status).toBe(200);
    expect((await w.request('GET', '/v1/admin/couriers', { headers: token })).status).toBe(200);

    // revoked: refused at once
    const revoked = await w.request('DELETE', `/v1/admin/staff-tokens/${issued.body.record.id}`, { headers: BOOTSTRAP });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(Number));
    const after = await w.request('GET', '/v1/admin/couriers', { headers: token });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('unauthorized');
  });

  it('gives admins the staff routes and Bull Board, and keeps the last admin', async () => {
    const admin = await addMember('admin');
    const s = await session(admin.name);
    expect((await w.request('GET', '/v1/admin/staff', { headers: s.headers })).body.members).toContainEqual(expect.objectContaining({ id: admin.id, role: 'admin' }));
    expect((await w.request('GET', '/admin/queues', { headers: s.headers })).status).toBe(200);
    const token = (await w.request('POST', '/v1/staff/me/tokens', { json: { label: 'mine' }, headers: { ...s.headers, 'x-csrf-token': s.csrf } })).body.token;
    const basic = 'Basic ' + Buffer.from(`${admin.name}:${token}`).toString('base64');
    expect((await w.request('GET', '/admin/queues', { headers: { authorization: basic } })).status).toBe(200);
    // demoting every admin would leave nobody to manage staff
    const admins = (await w.request('GET', '/v1/admin/staff', { headers: BOOTSTRAP })).body.members.filter((m: any) => m.role === 'admin' && m.active);
    for (const a of admins.slice(1)) await w.request('POST', `/v1/admin/staff/${a.id}/disable`, { headers: BOOTSTRAP });
    const last = await w.request('PUT', `/v1/admin/staff/${admins[0].id}/role`, { json: { role: 'staff' }, headers: BOOTSTRAP });
    expect(last.status).toBe(409);
    for (const a of admins.slice(1)) await w.request('POST', `/v1/admin/staff/${a.id}/enable`, { headers: BOOTSTRAP });
  });

  it('refuses a change riding on the cookie without the CSRF token or from another origin', async () => {
    const admin = await addMember('admin');
    const s = await session(admin.name);
    const courier = { name: '王师傅', carrier: 'SF' };
    const noToken = await w.request('POST', '/v1/admin/couriers', { json: courier, headers: s.headers });
    expect(noToken.status).toBe(403);
    expect(noToken.body.error.message).toMatch(/CSRF token/);
    const foreign = await w.request('POST', '/v1/admin/couriers', { json: courier, headers: { cookie: s.cookie, origin: 'https://evil.example', 'x-csrf-token': s.csrf } });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.message).toMatch(/Origin/);
    expect((await w.request('POST', '/v1/admin/couriers', { json: courier, headers: { ...s.headers, 'x-csrf-token': s.csrf } })).status).toBe(201);

    // the console's forms: the hidden _csrf field
    const formOut = (form: Record<string, string>, origin = w.origin) => w.request('POST', '/console/logout', { form, headers: { cookie: s.cookie, origin } });
    expect((await formOut({})).status).toBe(403);
    expect((await formOut({ _csrf: 'forged' })).status).toBe(403);
    expect((await formOut({ _csrf: s.csrf }, 'https://evil.example')).status).toBe(403);
    const ok = await formOut({ _csrf: s.csrf });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/login');
  });

  it('renders the hidden CSRF field that a form post must send back', async () => {
    const m = await addMember();
    const s = await session(m.name);
    // a console page as the console will build it: staffAuth, a form with csrfField(c)
    const page = new Hono<StaffEnv>();
    page.onError((err, c) => c.text(err.message, (err as { status?: 403 }).status ?? 500));
    page.use(staffAuth({ staff: w.gw.staff, bootstrapToken: null, production: false, trustProxy: false, clientAddress: () => 'test' }));
    page.get('/f', (c) => c.html(html`<form method="post">${csrfField(c)}<button>go</button></form>`));
    page.post('/f', (c) => c.text(`done by ${c.var.staff.name}`));
    const form = await (await page.request('/f', { headers: { cookie: s.cookie } })).text();
    const field = /<input type="hidden" name="_csrf" value="([A-Za-z0-9_-]+)">/.exec(form)![1]!;
    expect(field).toBe(s.csrf);
    const post = (body: string) =>
      page.request('/f', { method: 'POST', body, headers: { cookie: s.cookie, origin: 'http://localhost', 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await post(`_csrf=${field}`)).status).toBe(200);
    expect(await (await post(`_csrf=${field}`)).text()).toBe(`done by ${m.name}`);
    expect((await post('x=1')).status).toBe(403);
  });

  it('signs in from the console form, and refuses that form posted from another site', async () => {
    const m = await addMember();
    const form = { name: m.name, password: PASSWORD, next: '/console/claims' };
    const foreign = await w.request('POST', '/console/login', { form, headers: { ...w.client(), origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.cookies).toEqual([]);
    expect((await w.request('POST', '/console/login', { form, headers: w.client() })).status).toBe(403); // no Origin at all

    const ok = await w.request('POST', '/console/login', { form, headers: { ...w.client(), origin: w.origin } });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/claims');
    expect(ok.cookies[0]).toMatch(/^lg_staff=.*HttpOnly/);
    const bad = await w.request('POST', '/console/login', { form: { ...form, password: 'wrong one!', next: '//evil.example/x' }, headers: { ...w.client(), origin: w.origin } });
    expect(bad.headers.get('location')).toBe('/console/login?error=invalid&next=%2Fconsole');
    expect((await w.request('GET', '/console/login?error=invalid')).body).toContain('Wrong name or password');
  });

  it('locks a name after 5 wrong logins, counting each before checking it (parallel guesses included)', async () => {
    const m = await addMember();
    const tries = await Promise.all(Array.from({ length: 9 }, () => login(m.name, 'wrong password')));
    const statuses = tries.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    // the right password from yet another address: the name is locked
    const right = await login(m.name);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(right.body.error.code).toBe('locked_out');
  });

  it('locks a client address after 5 wrong logins, whatever the names', async () => {
    const victim = await addMember();
    const from = w.client();
    for (let i = 0; i < 5; i++) expect((await login(`guess${i}`, 'wrong password', from)).status).toBe(401);
    expect((await login(victim.name, PASSWORD, from)).status).toBe(429);
    expect((await login(victim.name, PASSWORD, w.client())).status).toBe(200);
  });

  it('records every staff action with the member who did it', async () => {
    const admin = await addMember('admin');
    const s = await session(admin.name);
    const r = await w.request('POST', '/v1/admin/couriers', { json: { name: '李师傅', carrier: 'JD' }, headers: { ...s.headers, 'x-csrf-token': s.csrf } });
    expect(r.status).toBe(201);
    // in the evidence log (the office chain: a courier account concerns no unit), hash-chained
    const office = await w.gw!.redis.xrange('lg:evidence:office', '-', '+');
    const entries = office.map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]!) as Record<string, any>);
    const entry = entries.find((e) => e.kind === 'staff' && e.details?.courierId === r.body.courier.id);
    expect(entry).toMatchObject({ actor: { type: 'staff', id: admin.id, name: admin.name }, action: 'courier.issue', requestId: r.headers.get('x-request-id') });
    expect(JSON.stringify(office)).not.toContain(r.body.token);
    const actions = entries.filter((e) => e.kind === 'staff' && e.actor.id === admin.id).map((e) => e.action);
    expect(actions).toEqual(['staff.login', 'courier.issue']);
    expect((await w.gw!.evidence.verifier.verify('office')).ok).toBe(true);
    // passwords never reach the log
    expect(w.logs.filter((l) => l.includes(PASSWORD))).toEqual([]);
  });

  it('lets STAFF_TOKEN act as the admin `bootstrap` in development, and refuses it in production', async () => {
    const me = await w.request('GET', '/v1/staff/me', { headers: BOOTSTRAP });
    expect(me.body).toMatchObject({ member: { id: 'bootstrap', name: 'bootstrap', role: 'admin' }, via: 'bootstrap' });

    const prod = new Hono();
    prod.onError((err, c) => c.json({ message: err.message }, (err as { status?: 401 }).status ?? 500));
    prod.use(staffAuth({ staff: w.gw.staff, bootstrapToken: DEV_STAFF_TOKEN, production: true, trustProxy: false, clientAddress: () => 'test' }));
    prod.get('/x', (c) => c.text('in'));
    const refused = await prod.request('/x', { headers: BOOTSTRAP });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toMatch(/refused in production/);
  });

  it('lists the staff routes in the OpenAPI document with their schemas', async () => {
    const doc = (await w.request('GET', '/openapi.json')).body;
    for (const [path, method] of [
      ['/v1/staff/login', 'post'],
      ['/v1/staff/logout', 'post'],
      ['/v1/staff/me', 'get'],
      ['/v1/staff/me/password', 'put'],
      ['/v1/staff/me/tokens', 'post'],
      ['/v1/staff/me/tokens/{id}', 'delete'],
      ['/console/login', 'post'],
      ['/console/logout', 'post'],
      ['/v1/admin/staff', 'post'],
      ['/v1/admin/staff/{id}/disable', 'post'],
      ['/v1/admin/staff/{id}/role', 'put'],
      ['/v1/admin/staff/{id}/password', 'put'],
      ['/v1/admin/staff/{id}/tokens', 'post'],
      ['/v1/admin/staff-tokens', 'get'],
      ['/v1/admin/staff-tokens/{id}', 'delete'],
    ] as const) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeTruthy();
      expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(1);
    }
    expect(doc.paths['/v1/staff/login'].post.requestBody.content['application/json'].schema).toBeTruthy();
    expect(doc.paths['/console/login'].post.requestBody.content['application/x-www-form-urlencoded'].schema).toBeTruthy();
    expect(doc.components.securitySchemes).toHaveProperty('staffSession');
  });
});
