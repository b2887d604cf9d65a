import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP, ClaimsWorld, H, JSON_V1, type Headers_ } from '../support/claims.js';
import { eventually } from '../support/stack.js';

const DAY = 24 * H;
const smsText = (r: { body: unknown }) => (r.body as { text: string }).text;

/**
 * Claims end to end: the real gateway and Redis, a simulated unit for parcels with a real evidence timeline, an
 * injected clock, residents signed in by SMS, named staff with tokens and sessions.
 */
describe('lost-parcel claims', () => {
  const w = new ClaimsWorld({ sim: true });
  let courier: Headers_;
  let staff: Awaited<ReturnType<ClaimsWorld['member']>>;
  beforeAll(async () => {
    await w.start();
    courier = await w.courier();
    staff = await w.member('staff');
  }, 60_000);
  afterAll(() => w.stop());

  const act = (id: string, action: string, json?: unknown, auth = staff.auth) =>
    w.request('POST', `/v1/admin/claims/${id}/${action}`, { ...(json === undefined ? {} : { json }), headers: auth });

  it('runs a claim from opening to rating, with a question, a reopening and the window closing', async () => {
    const phone = w.phone();
    const { parcel, code } = await w.storeParcel(courier, phone);
    await w.collect(courier, parcel, code);
    const me = await w.resident(phone);

    // the resident opens it about their parcel
    const opened = await w.request('POST', '/v1/claims', { json: { parcelId: parcel.id, description: '取件短信说已取出，但我没有取。' }, headers: me });
    expect(opened.status).toBe(201);
    const c = opened.body;
    expect(c).toMatchObject({ state: 'open', channel: 'app', subject: { parcelId: parcel.id, unit: JSON_V1, compartment: parcel.compartment }, actions: [] });
    expect(c.ref).toMatch(/^K\d{5}$/);
    // times in the API are ISO 8601 with the community's offset (the test client reads them back as epoch ms)
    expect(opened.text).toMatch(/"openedAt":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00"/);
    expect(c.openedAt).toBe(w.clock.now());
    expect(smsText(await w.text(`${c.id}.opened`))).toContain(`编号${c.ref}。物业将在2小时内响应、48小时内给出处理结果。`);
    await eventually(() => w.hooksOf('claim-opened', c.id)[0], 8000, 'property told of the claim');

    // staff take it up, look into it, ask, note
    expect((await act(c.id, 'acknowledge', { note: '已电话联系居民' })).body.state).toBe('acknowledged');
    expect(smsText(await w.text(`${c.id}.r0.acknowledged`))).toContain(`${c.ref}已由物业受理`);
    expect((await act(c.id, 'investigate')).body.state).toBe('investigating');
    expect((await act(c.id, 'notes', { text: 'internal: check camera 3' })).status).toBe(200);
    const asked = await act(c.id, 'ask', { question: '您取件时是几点？' });
    expect(asked.body).toMatchObject({ state: 'waiting_resident', question: '您取件时是几点？', actions: expect.arrayContaining(['investigate', 'resolve', 'note']) });
    await eventually(() => w.textsTo(phone).find((r) => smsText(r).includes('需要您补充情况')), 8000, 'question text');

    // the resident sees the question (not the staff's notes) and answers it
    const seen = await w.request('GET', `/v1/claims/${c.id}`, { headers: me });
    expect(seen.body).toMatchObject({ state: 'waiting_resident', question: '您取件时是几点？', actions: ['answer'] });
    expect(JSON.stringify(seen.body)).not.toContain('camera 3');
    expect(seen.body.history.map((h: any) => `${h.action}:${h.by}`)).toEqual(['open:you', 'acknowledge:office', 'investigate:office', 'ask:office']);
    const answered = await w.request('POST', `/v1/claims/${c.id}/answer`, { json: { text: '我那天不在家。' }, headers: me });
    expect(answered.body.state).toBe('investigating');

    // resolved: the resident is told, rates once
    w.clock.advance(3 * H);
    const resolved = await act(c.id, 'resolve', { outcome: 'wrong_person', reason: '监控显示邻居误取，已追回', note: 'camera 3, 18:02' });
    expect(resolved.body).toMatchObject({ state: 'resolved', outcome: { kind: 'wrong_person', reason: '监控显示邻居误取，已追回' } });
    expect(smsText(await w.text(`${c.id}.r0.resolved`))).toContain(`${c.ref}已处理：包裹被他人取走(监控显示邻居误取，已追回)`);
    const rated = await w.request('POST', `/v1/claims/${c.id}/rating`, { json: { score: 4, comment: '处理及时' }, headers: me });
    expect(rated.body).toMatchObject({ rating: { score: 4, comment: '处理及时' }, actions: ['reopen'] });
    const again = await w.request('POST', `/v1/claims/${c.id}/rating`, { json: { score: 1 }, headers: me });
    expect(again.status).toBe(409);
    expect(again.body.error.details.reason).toBe('already_rated');

    // reopened within 7 days (after staff closed it): a new round; then resolved and past the window
    expect((await act(c.id, 'close')).body.state).toBe('closed');
    w.clock.advance(6 * DAY);
    const me2 = await w.resident(phone); // a day-long token has run out meanwhile
    const reopened = await w.request('POST', `/v1/claims/${c.id}/reopen`, { json: { reason: '包裹里少了东西' }, headers: me2 });
    expect(reopened.body).toMatchObject({ state: 'open', outcome: null });
    await eventually(() => w.hooksOf('claim-opened', c.id).find((r) => (r.body as any).params.round === 1), 8000, 'reopening told');
    await act(c.id, 'acknowledge');
    await act(c.id, 'resolve', { outcome: 'compensated', reason: '赔偿50元' });
    w.clock.advance(7 * DAY + 1);
    // the sweep closes a resolved claim once its window is over
    await eventually(async () => (await w.gw.claims.service.get(c.id))?.claim.state === 'closed', 8000, 'closed by the sweep');
    const late = await w.request('POST', `/v1/claims/${c.id}/reopen`, { json: { reason: 'again' }, headers: await w.resident(phone) });
    expect(late.status).toBe(409);
    expect(late.body.error.details.reason).toBe('reopen_window_over');

    // staff's full view: the resident's number, the log with who did what, the clocks, the parcel and its timeline
    const full = await w.request('GET', `/v1/admin/claims/${c.id}`, { headers: staff.auth });
    expect(full.status).toBe(200);
    expect(full.body).toMatchObject({ phone, reopened: 1, clocks: { round: 1 }, parcel: { id: parcel.id, state: 'collected', phoneTail: phone.slice(-4) } });
    expect(full.body.log.map((e: any) => e.action)).toEqual([
      'open',
      'acknowledge',
      'investigate',
      'note',
      'ask',
      'answer',
      'resolve',
      'rate',
      'close',
      'reopen',
      'acknowledge',
      'resolve',
      'close',
    ]);
    expect(full.body.log.at(-1).by).toEqual({ type: 'system', id: 'claim-sweep' });
    expect(full.body.log[1].by).toEqual({ type: 'staff', id: staff.id, name: staff.name });
    expect(full.body.log[0].by).toEqual({ type: 'resident', phone: `${phone.slice(0, 3)}****${phone.slice(-4)}` });
    const kinds = full.body.timeline.map((t: any) => (t.kind === 'parcel' ? `${t.entry.from}>${t.entry.to}` : t.kind));
    expect(kinds).toEqual(expect.arrayContaining(['reserved>depositing', 'depositing>stored', 'door-opened', 'door-closed', 'stored>collecting', 'collecting>collected']));
  });

  it('writes every change with who, when and the note into the office evidence chain, and exports and prints the claim', async () => {
    const phone = w.phone();
    const { parcel } = await w.storeParcel(courier, phone);
    // staff take the claim down on the phone, by tracking number and carrier: the parcel is found
    const opened = await w.request('POST', '/v1/admin/claims', {
      json: { phone, channel: 'phone', trackingNumber: parcel.trackingNumber, carrier: 'SF', description: '电话：说柜子里没有包裹' },
      headers: staff.auth,
    });
    expect(opened.status).toBe(201);
    const id = opened.body.id;
    expect(opened.body).toMatchObject({ channel: 'phone', openedBy: { type: 'staff', id: staff.id }, subject: { parcelId: parcel.id } });
    // one claim at a time about a parcel
    const dup = await w.request('POST', '/v1/admin/claims', { json: { phone, channel: 'visit', parcelId: parcel.id, description: 'again' }, headers: staff.auth });
    expect(dup.status).toBe(409);
    expect(dup.body.error.details).toMatchObject({ reason: 'duplicate', claim: id });
    await act(id, 'acknowledge', { note: 'on my way to the unit' });
    // refusals name the field or the state
    const noReason = await act(id, 'resolve', { outcome: 'rejected' });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.details.fields).toEqual([{ field: 'reason', problem: expect.stringMatching(/needs a reason/) }]);
    expect((await act(id, 'resolve', { outcome: 'lost' })).body.error.message).toMatch(/^outcome: /);
    expect((await act('cl_nothing', 'acknowledge')).status).toBe(404);
    await act(id, 'resolve', { outcome: 'found', note: 'it was in box ' + parcel.compartment });
    const twice = await act(id, 'acknowledge');
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatchObject({ code: 'conflict', details: { reason: 'wrong_state', state: 'resolved', action: 'acknowledge' } });

    const x = await w.request('GET', `/v1/admin/claims/${id}/export`, { headers: staff.auth });
    expect(x.status).toBe(200);
    expect(x.headers.get('content-disposition')).toMatch(/attachment; filename="claim-K\d{5}\.json"/);
    expect(x.body).toMatchObject({ format: 'locker-gateway/claim@1', claim: { id, phone: `${phone.slice(0, 3)}****${phone.slice(-4)}` }, timeline: { chain: `unit:${JSON_V1}` } });
    expect(x.text).not.toContain(phone);
    const claimEntries = x.body.evidence.items.filter((i: any) => i.entry.kind === 'claim');
    expect(claimEntries.map((i: any) => [i.entry.action, i.entry.actor.type, i.entry.note])).toEqual([
      ['open', 'staff', '电话：说柜子里没有包裹'],
      ['acknowledge', 'staff', 'on my way to the unit'],
      ['resolve', 'staff', `it was in box ${parcel.compartment}`],
    ]);
    expect(x.body.evidence).toMatchObject({ chain: 'office' });
    expect(claimEntries[0].entry).toMatchObject({ channel: 'phone', resident: expect.stringMatching(/^\d{3}\*{4}\d{4}$/), at: expect.any(Number) });
    expect(x.body.evidence.items.filter((i: any) => i.entry.kind === 'notice-queued').length).toBeGreaterThanOrEqual(3);
    // the texts' deliveries join the claim's evidence too
    await w.text(`${id}.opened`);
    await eventually(
      async () => (await w.gw.claims.store.evidence(id)).find((i) => i.entry.kind === 'notice' && i.entry.notice === `${id}.opened` && i.entry.result === 'sent'),
      8000,
      'the delivery of the opening text in the claim evidence',
    );
    // positions and hashes are the chain's: the chain verifies
    const verify = await w.request('GET', '/v1/admin/evidence/verify', { headers: BOOTSTRAP });
    expect(verify.body.ok).toBe(true);
    const office = (await w.gw.evidence.log.head('office')).n;
    expect(Math.max(...x.body.evidence.items.map((i: any) => i.n))).toBeLessThanOrEqual(office);

    const page = await w.request('GET', `/v1/admin/claims/${id}/print`, { headers: staff.auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).toContain('@page{size:A4');
    expect(page.text).toContain('丢件申诉记录 · Lost-parcel claim record');
    expect(page.text).toContain(x.body.claim.ref);
    expect(page.text).toContain('包裹已找到 Found');
    expect(page.text).toContain('电话 Phone call');
    expect(page.text).toContain(`员工 Staff ${staff.name}`);
    expect(page.text).not.toContain(phone);

    // viewing, exporting and printing are recorded staff actions
    const rows = await w.gw.redis.xrange(w.gw.evidence.log.k.evidence('office'), '-', '+');
    const actions = rows.map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]!)).filter((e) => e.kind === 'staff' && e.details?.claimId === id);
    expect(actions.map((e) => e.action)).toEqual(expect.arrayContaining(['claim.export', 'claim.print']));
  });

  it("shows residents only their own claims, and links only their own parcels", async () => {
    const alice = w.phone();
    const bob = w.phone();
    const { parcel } = await w.storeParcel(courier, alice);
    const a = await w.resident(alice);
    const b = await w.resident(bob);
    const mine = await w.request('POST', '/v1/claims', { json: { trackingNumber: 'NEVERSEEN123', carrier: 'ZTO', description: '网上显示已送达' }, headers: a });
    expect(mine.status).toBe(201);
    expect(mine.body.subject).toEqual({ parcelId: null, trackingNumber: 'NEVERSEEN123', carrier: 'ZTO', unit: null, compartment: null });

    expect((await w.request('GET', '/v1/claims', { headers: b })).body.claims).toEqual([]);
    expect((await w.request('GET', `/v1/claims/${mine.body.id}`, { headers: b })).status).toBe(404);
    expect((await w.request('POST', `/v1/claims/${mine.body.id}/rating`, { json: { score: 1 }, headers: b })).status).toBe(404);
    expect((await w.request('GET', '/v1/claims', { headers: a })).body.claims.map((c: any) => c.id)).toEqual([mine.body.id]);
    // Bob cannot claim Alice's parcel by its id, and her tracking number does not link it to him
    const byId = await w.request('POST', '/v1/claims', { json: { parcelId: parcel.id, description: 'x' }, headers: b });
    expect(byId.status).toBe(404);
    const byTracking = await w.request('POST', '/v1/claims', { json: { trackingNumber: parcel.trackingNumber, carrier: 'SF', description: 'x' }, headers: b });
    expect(byTracking.status).toBe(201);
    expect(byTracking.body.subject.parcelId).toBeNull();
    // Alice's own parcel, found by tracking number alone
    const own = await w.request('POST', '/v1/claims', { json: { trackingNumber: parcel.trackingNumber, description: 'y' }, headers: a });
    expect(own.body.subject).toMatchObject({ parcelId: parcel.id, unit: JSON_V1 });
    // resident parcels: still only hers
    expect((await w.request('GET', '/v1/resident/parcels', { headers: b })).body.parcels).toEqual([]);

    // bad input answers 400 naming the field; no token, 401
    const bad = await w.request('POST', '/v1/claims', { json: { description: '' }, headers: a });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/trackingNumber: give parcelId or trackingNumber|description/);
    expect((await w.request('POST', '/v1/claims', { json: { trackingNumber: 'AB12', description: 'x' } })).status).toBe(401);
    expect((await w.request('GET', '/v1/claims', { headers: staff.auth })).status).toBe(401);
  });

  it('refuses staff routes without a session, with a resident token, a revoked token or the wrong role, and without the CSRF token', async () => {
    const phone = w.phone();
    const res = await w.resident(phone);
    const opened = await w.request('POST', '/v1/claims', { json: { trackingNumber: w.tracking(), description: 'gone' }, headers: res });
    const id = opened.body.id;

    expect((await w.request('GET', '/v1/admin/claims')).status).toBe(401);
    expect((await w.request('GET', '/v1/admin/claims', { headers: res })).status).toBe(401);
    expect((await act(id, 'acknowledge', undefined, res)).status).toBe(401);

    const m = await w.member('staff');
    expect((await w.request('GET', `/v1/admin/claims?phone=${phone}`, { headers: m.auth })).body.claims.map((c: any) => c.id)).toEqual([id]);
    expect((await w.request('DELETE', `/v1/admin/staff-tokens/${m.tokenId}`, { headers: BOOTSTRAP })).status).toBe(200);
    expect((await w.request('GET', '/v1/admin/claims', { headers: m.auth })).status).toBe(401);

    // the report is for admins
    const month = '2026-01';
    expect((await w.request('GET', `/v1/admin/reports/monthly?month=${month}`, { headers: staff.auth })).status).toBe(403);
    const admin = await w.member('admin');
    expect((await w.request('GET', `/v1/admin/reports/monthly?month=${month}`, { headers: admin.auth })).status).toBe(200);
    expect((await w.request('GET', '/v1/admin/reports/monthly?month=2026-13', { headers: admin.auth })).body.error.message).toMatch(/month: YYYY-MM/);

    // a session: Origin and the CSRF token
    const s = await w.session(staff.name);
    const noToken = await act(id, 'acknowledge', {}, s.headers);
    expect(noToken.status).toBe(403);
    const crossSite = await act(id, 'acknowledge', {}, { ...s.headers, origin: 'https://evil.example', 'x-csrf-token': s.csrf });
    expect(crossSite.status).toBe(403);
    expect((await w.request('GET', `/v1/admin/claims/${id}`, { headers: s.headers })).body.state).toBe('open');
    const ok = await act(id, 'acknowledge', {}, { ...s.headers, 'x-csrf-token': s.csrf });
    expect(ok.status).toBe(200);
    expect(ok.body.state).toBe('acknowledged');
  });

  it('lists claims for staff by state, unit and age', async () => {
    const phone = w.phone();
    const { parcel } = await w.storeParcel(courier, phone);
    const atUnit = await w.request('POST', '/v1/admin/claims', { json: { phone, channel: 'visit', parcelId: parcel.id, description: 'at the unit' }, headers: staff.auth });
    w.clock.advance(5 * H);
    const fresh = await w.request('POST', '/v1/admin/claims', { json: { phone, channel: 'other', trackingNumber: w.tracking(), description: 'no unit' }, headers: staff.auth });
    await act(fresh.body.id, 'acknowledge');
    const list = async (q: string) => (await w.request('GET', `/v1/admin/claims?phone=${phone}&${q}`, { headers: staff.auth })).body.claims.map((c: any) => c.id);
    expect(await list('')).toEqual([fresh.body.id, atUnit.body.id]);
    expect(await list('state=open')).toEqual([atUnit.body.id]);
    expect(await list('state=acknowledged,investigating')).toEqual([fresh.body.id]);
    expect(await list(`unit=${JSON_V1}`)).toEqual([atUnit.body.id]);
    expect(await list('minAgeHours=4')).toEqual([atUnit.body.id]);
    expect(await list('maxAgeHours=1')).toEqual([fresh.body.id]);
    const byUnit = await w.request('GET', `/v1/admin/claims?unit=${JSON_V1}&state=open`, { headers: staff.auth });
    expect(byUnit.body.claims.map((c: any) => c.id)).toContain(atUnit.body.id);
    expect(byUnit.body.claims.every((c: any) => c.subject.unit === JSON_V1 && c.state === 'open')).toBe(true);
    expect(JSON.stringify(byUnit.body)).not.toContain(phone); // masked in lists
    expect((await w.request('GET', '/v1/admin/claims?state=lost', { headers: staff.auth })).body.error.message).toMatch(/state: unknown state lost/);
  });

  it('lists every claims route in the OpenAPI document with its schemas and security', async () => {
    const doc = (await w.request('GET', '/openapi.json')).body;
    const routes = [
      ['/v1/claims', 'post', 'residentToken'],
      ['/v1/claims', 'get', 'residentToken'],
      ['/v1/claims/{id}', 'get', 'residentToken'],
      ['/v1/claims/{id}/answer', 'post', 'residentToken'],
      ['/v1/claims/{id}/reopen', 'post', 'residentToken'],
      ['/v1/claims/{id}/rating', 'post', 'residentToken'],
      ['/v1/admin/claims', 'post', 'staffToken'],
      ['/v1/admin/claims', 'get', 'staffToken'],
      ['/v1/admin/claims/{id}', 'get', 'staffToken'],
      ['/v1/admin/claims/{id}/acknowledge', 'post', 'staffToken'],
      ['/v1/admin/claims/{id}/investigate', 'post', 'staffToken'],
      ['/v1/admin/claims/{id}/ask', 'post', 'staffToken'],
      ['/v1/admin/claims/{id}/resolve', 'post', 'staffToken'],
      ['/v1/admin/claims/{id}/close', 'post', 'staffToken'],
      ['/v1/admin/claims/{id}/notes', 'post', 'staffToken'],
      ['/v1/admin/claims/{id}/export', 'get', 'staffToken'],
      ['/v1/admin/claims/{id}/print', 'get', 'staffToken'],
      ['/v1/admin/reports/monthly', 'get', 'staffToken'],
    ] as const;
    for (const [path, method, security] of routes) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeTruthy();
      expect(op.security.map((x: object) => Object.keys(x)[0]), `${method} ${path}`).toContain(security);
      const ok = op.responses['200'] ?? op.responses['201'];
      expect(ok.content, `${method} ${path}`).toBeTruthy();
      expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(1);
      if (method === 'post') expect(op.requestBody.content['application/json'].schema, `${method} ${path}`).toBeTruthy();
    }
    // nothing under these prefixes goes undocumented
    const documented = Object.keys(doc.paths).filter((p) => /^\/v1\/(admin\/)?claims|^\/v1\/admin\/reports/.test(p));
    expect(documented.sort()).toEqual([...new Set(routes.map(([p]) => p))].sort());
    expect(doc.components.schemas.ClaimSummary.properties.openedAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(doc.components.schemas.ClaimClock.properties.dueAt).toMatchObject({ format: 'date-time' });
    expect(doc.components.schemas).toEqual(expect.objectContaining({ Claim: expect.any(Object), ResidentClaim: expect.any(Object), MonthlyReport: expect.any(Object), ClaimClocks: expect.any(Object) }));
    const docs = await w.request('GET', '/docs');
    expect(docs.text).toContain('/v1/admin/claims/{id}/resolve');
    const zh = await w.request('GET', '/docs?lang=zh');
    expect(zh.text).toContain('丢件申诉 Lost-parcel claims');
    expect(zh.text).toContain('代居民登记申诉');
  });
});
