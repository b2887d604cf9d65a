import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/stack.js';
import { otpIn, SignInWorld } from '../support/signin.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** Residents sign in by SMS: one-time codes (expiry, tries, rate limits, never logged) and resident tokens. */
describe('resident sign-in by SMS', () => {
  const w = new SignInWorld({ OTP_PER_ADDRESS: '4', RESIDENT_SESSION_MINUTES: '30' });
  beforeAll(() => w.start());
  afterAll(() => w.stop());

  const ask = (phone: string, from = w.client()) => w.request('POST', '/v1/resident/otp', { json: { phone }, headers: from });
  const signIn = (phone: string, code: string) => w.request('POST', '/v1/resident/session', { json: { phone, code } });
  /** A 6-digit code other than `code`. */
  const other = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

  it('texts a 6-digit code that signs in once, giving a resident token', async () => {
    const phone = w.phone();
    const r = await ask(`+86 ${phone.slice(0, 3)}-${phone.slice(3)}`);
    expect(r.status).toBe(202);
    expect(r.body.expiresAt - w.now()).toBeGreaterThan(4 * 60_000);
    const code = await w.codeSentTo(phone);
    expect(code).toMatch(/^\d{6}$/);
    expect((w.textsTo(phone)[0]!.body as { text: string }).text).toMatch(/^【里厍社区快递柜】您的登录验证码 \d{6}，5分钟内有效/);

    const s = await signIn(phone, code);
    expect(s.status).toBe(201);
    expect(s.body.token).toMatch(/^lgr_[A-Za-z0-9_-]{43}$/);
    expect(s.body.expiresAt - w.now()).toBeGreaterThan(29 * 60_000);
    const prefs = await w.request('GET', '/v1/resident/preferences', { headers: bearer(s.body.token) });
    expect(prefs.status).toBe(200);
    expect(prefs.body).toMatchObject({ consent: 'allowed', lang: 'zh' });

    const again = await signIn(phone, code);
    expect(again.status).toBe(403);
    expect(again.body.error.details.reason).toBe('no_code');
  });

  it('lets a code expire after 5 minutes, and a token after RESIDENT_SESSION_MINUTES (injected clock)', async () => {
    const phone = w.phone();
    await ask(phone);
    const code = await w.codeSentTo(phone);
    w.offsetMs = 5 * 60_000 + 1000;
    try {
      const late = await signIn(phone, code);
      expect(late.status).toBe(403);
      expect(late.body.error.details.reason).toBe('expired');
    } finally {
      w.offsetMs = 0;
    }

    await ask(phone);
    const token = (await signIn(phone, await w.codeSentTo(phone, 2))).body.token as string;
    w.offsetMs = 29 * 60_000;
    expect((await w.request('GET', '/v1/resident/parcels', { headers: bearer(token) })).status).toBe(200);
    w.offsetMs = 30 * 60_000 + 1000;
    try {
      expect((await w.request('GET', '/v1/resident/parcels', { headers: bearer(token) })).status).toBe(401);
    } finally {
      w.offsetMs = 0;
    }
  });

  it('kills a code after 5 wrong tries, even tried in parallel, and the right code then fails too', async () => {
    const phone = w.phone();
    await ask(phone);
    const code = await w.codeSentTo(phone);
    const tries = await Promise.all(Array.from({ length: 8 }, () => signIn(phone, other(code))));
    const wrong = tries.filter((r) => r.status === 403);
    expect(wrong).toHaveLength(5);
    expect(wrong.map((r) => r.body.error.details.triesLeft).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(tries.filter((r) => r.status === 429)).toHaveLength(3);
    const right = await signIn(phone, code);
    expect(right.status).toBe(429);
    expect(right.body.error.details.reason).toBe('used_up');
  });

  it('sends a phone at most 3 codes per 15 minutes, from whatever address', async () => {
    const phone = w.phone();
    for (let i = 0; i < 3; i++) expect((await ask(phone)).status).toBe(202);
    const fourth = await ask(phone);
    expect(fourth.status).toBe(429);
    expect(fourth.body.error).toMatchObject({ code: 'rate_limited', details: { scope: 'phone' } });
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(14 * 60);
    await eventually(() => w.textsTo(phone).length === 3, 5000, 'three texts');
    expect(w.textsTo(phone)).toHaveLength(3);
  });

  it('replaces the previous code with a new one', async () => {
    const phone = w.phone();
    await ask(phone);
    const first = await w.codeSentTo(phone, 1);
    await ask(phone);
    const second = await w.codeSentTo(phone, 2);
    if (first !== second) expect((await signIn(phone, first)).status).toBe(403);
    expect((await signIn(phone, second)).status).toBe(201);
  });

  it('sends one client address at most OTP_PER_ADDRESS codes per 15 minutes, whatever the phones', async () => {
    const from = w.client();
    for (let i = 0; i < 4; i++) expect((await ask(w.phone(), from)).status).toBe(202);
    const phone = w.phone();
    const refused = await ask(phone, from);
    expect(refused.status).toBe(429);
    expect(refused.body.error.details.scope).toBe('address');
    // the refusal did not count against that phone: it can still ask three times from elsewhere
    for (let i = 0; i < 3; i++) expect((await ask(phone)).status).toBe(202);
  });

  it('never writes a code to the logs or to Redis in clear', async () => {
    const phone = w.phone();
    await ask(phone);
    const code = await w.codeSentTo(phone);
    await signIn(phone, other(code));
    expect((await signIn(phone, code)).status).toBe(201);
    const codes = w.sms.accepted.filter((r) => (r.body as { id?: string }).id?.startsWith('otp.')).map(otpIn);
    expect(codes.length).toBeGreaterThan(5);
    expect(w.logs.some((l) => l.includes('resident code sent'))).toBe(true);
    // a code as a number of its own (not the middle of a longer number or id)
    for (const c of codes) expect(w.logs.filter((l) => new RegExp(`(?<![0-9A-Za-z])${c}(?![0-9A-Za-z])`).test(l)), c).toEqual([]);
    // what Redis holds of a live code: its keyed hash
    await ask(phone);
    const live = await w.codeSentTo(phone, 2);
    const stored = await w.gw.redis.hgetall(`lg:otp:${phone}`);
    expect(Object.keys(stored).sort()).toEqual(['exp', 'h', 'tries']);
    expect(JSON.stringify(stored)).not.toContain(live);
  });

  it('signs a resident out, and refuses bad input naming the field', async () => {
    const phone = w.phone();
    await ask(phone);
    const token = (await signIn(phone, await w.codeSentTo(phone))).body.token as string;
    expect((await w.request('DELETE', '/v1/resident/session', { headers: bearer(token) })).status).toBe(204);
    expect((await w.request('GET', '/v1/resident/preferences', { headers: bearer(token) })).status).toBe(401);
    const bad = await w.request('POST', '/v1/resident/otp', { json: { phone: '12345' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^phone: /);
    const badCode = await signIn(phone, '12ab56');
    expect(badCode.status).toBe(400);
    expect(badCode.body.error.message).toMatch(/code: must be 6 digits/);
  });

  it('lists the resident routes in the OpenAPI document with their schemas', async () => {
    const doc = (await w.request('GET', '/openapi.json')).body;
    for (const [path, method] of [
      ['/v1/resident/otp', 'post'],
      ['/v1/resident/session', 'post'],
      ['/v1/resident/session', 'delete'],
      ['/v1/resident/parcels', 'get'],
      ['/v1/resident/parcels', 'post'],
      ['/v1/resident/parcels/{id}/extend', 'post'],
      ['/v1/resident/preferences', 'get'],
      ['/v1/resident/preferences', 'put'],
    ] as const) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeTruthy();
      expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(1);
    }
    expect(doc.paths['/v1/resident/otp'].post.requestBody.content['application/json'].schema).toBeTruthy();
    expect(doc.paths['/v1/resident/parcels/{id}/extend'].post.security).toEqual([{ residentToken: [] }, {}]);
    expect(doc.components.securitySchemes).toHaveProperty('residentToken');
  });
});
