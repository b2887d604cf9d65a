import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_ROUTES } from '../../src/http/console/index.js';
import { ConsoleWorld, type Session } from '../support/console.js';
import { JSON_V1, STAFF, type TestCourier } from '../support/parcels.js';
import { eventually } from '../support/stack.js';
import { PARCEL_FIELD } from '../../src/store/records.js';

/** Every console route answers a request without a session by sending it to the login page (the stream: 401). */
describe('staff console', () => {
  const w = new ConsoleWorld({ NOTIFY_ATTEMPTS: '1' }, [{ id: JSON_V1 }]);
  let courier: TestCourier;
  let admin: Session;
  let staff: Session;

  beforeAll(async () => {
    await w.start();
    courier = await w.courier();
    admin = await w.member('admin');
    staff = await w.member('staff');
  }, 60_000);
  afterAll(() => w.stop());

  const concrete = (path: string) =>
    path.replace(':id/compartments', `${JSON_V1}/compartments`).replace('/units/:id', `/units/${JSON_V1}`).replace(':no', '3').replace(':id', 'x').replace(':what', 'role');

  it('refuses every console route without a session, and with an API token instead of one', async () => {
    expect(CONSOLE_ROUTES.length).toBeGreaterThanOrEqual(20);
    for (const r of CONSOLE_ROUTES) {
      const path = concrete(r.path);
      const init = { method: r.method, redirect: 'manual' as const, headers: { origin: w.url, 'content-type': 'application/x-www-form-urlencoded' }, ...(r.method === 'POST' ? { body: 'reason=check%20the%20door&phone=13800138000&channel=phone&trackingNumber=SF1234567&description=lost&note=x&text=x&outcome=found' } : {}) };
      const tries: Record<string, string>[] = [{}, STAFF, { cookie: 'lg_staff=not-a-session' }];
      for (const headers of tries) {
        const res = await fetch(w.url + path, { ...init, headers: { ...init.headers, ...headers } });
        if (path === '/console/events') expect(res.status, `${r.method} ${path}`).toBe(401);
        else {
          expect(res.status, `${r.method} ${path}`).toBe(303);
          expect(res.headers.get('location'), `${r.method} ${path}`).toMatch(/^\/console\/login\?next=/);
        }
        await res.body?.cancel();
      }
    }
    // after signing in, the login page sends the member back where they were going
    expect((await w.page(null, '/console/audit')).location).toBe('/console/login?next=%2Fconsole%2Faudit');
    // nothing was done by any of those posts: the compartment is still in service, nobody was added
    expect((await w.unit(JSON_V1)).compartments[2].outOfService).toBe(false);
    expect((await w.stack.gw!.staff.list()).length).toBe(2);
    expect(await w.stack.gw!.claims.service.list({ limit: 10 })).toHaveLength(0);
  });

  it('keeps admin pages from staff, and serves every page with a policy that allows no other host', async () => {
    for (const r of CONSOLE_ROUTES.filter((x) => x.admin)) {
      const res = r.method === 'GET' ? await w.page(staff, concrete(r.path)) : await w.form(staff, concrete(r.path), { name: 'x', role: 'admin', password: 'a long password' });
      expect(res.status, r.path).toBe(403);
    }
    const res = await fetch(`${w.url}/console`, { headers: { cookie: admin.cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'; style-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).toContain('name="_csrf"');
  });

  it('refuses a console form without its CSRF token or from another site, and changes nothing', async () => {
    const path = `/console/units/${JSON_V1}/compartments/5/service`;
    expect((await w.form(admin, path, { outOfService: 'on', reason: 'broken hinge' }, { csrf: false })).status).toBe(403);
    expect((await w.form(admin, path, { outOfService: 'on', reason: 'broken hinge' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await w.unit(JSON_V1)).compartments[4].outOfService).toBe(false);
  });

  it('finds a parcel by the last 4 digits of the phone and by tracking number, with its timeline', async () => {
    const { parcel, phone } = await w.stored(courier, JSON_V1);
    const byTail = await w.page(staff, `/console/parcels?q=${phone.slice(-4)}`);
    expect(byTail.status).toBe(200);
    expect(byTail.text).toContain(`/console/parcels/${parcel.id}`);
    expect(byTail.text).not.toContain(phone); // masked in lists
    const byTracking = await w.page(staff, `/console/parcels?q=${parcel.trackingNumber.toLowerCase()}`);
    expect(byTracking.text).toContain(`/console/parcels/${parcel.id}`);
    expect((await w.page(staff, '/console/parcels?q=%3Cb%3E')).status).toBe(400);

    const detail = await w.page(staff, `/console/parcels/${parcel.id}`);
    expect(detail.text).toContain('门关了 door closed');
    expect(detail.text).toContain('待取 waiting');
    expect(detail.text).not.toContain(phone);
    // showing the number is recorded, in the parcel's own timeline, with who looked
    const shown = await w.page(staff, `/console/parcels/${parcel.id}?reveal=phone`);
    expect(shown.text).toContain(phone);
    const timeline = await w.stack.gw!.evidence.timelines.of((await w.stack.gw!.parcels.get(parcel.id))!);
    expect(timeline.some((i) => i.entry.kind === 'staff' && i.entry.action === 'parcel.view' && (i.entry.actor as { name?: string }).name === staff.name)).toBe(true);
  });

  it('opens a compartment only with a reason, through the parcel, so taking it out is a collection, not a loss', async () => {
    const { parcel } = await w.stored(courier, JSON_V1);
    const refused = await w.form(staff, `/console/parcels/${parcel.id}/open`, { reason: 'x', nonce: 'n1' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('Give a reason');
    const ok = await w.form(staff, `/console/parcels/${parcel.id}/open`, { reason: '住户在前台，手机没电 resident at the desk', nonce: 'n2' });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe(`/console/parcels/${parcel.id}?done=opened`);
    await w.doorOpen(JSON_V1, parcel.compartment);
    w.sim(JSON_V1).takeParcel(parcel.compartment);
    w.sim(JSON_V1).closeDoor(parcel.compartment);
    await w.waitState(courier, parcel.id, 'collected');
    const entries = (await w.log(JSON_V1)).filter((e) => e.event.kind === 'staff-open' && e.event.parcel === parcel.id);
    expect(entries.map((e) => [(e.event.actor as { name?: string }).name, e.event.reason])).toEqual([[staff.name, '住户在前台，手机没电 resident at the desk']]);
  });

  it('puts a compartment and a unit out of service and back, recorded with the member', async () => {
    const base = `/console/units/${JSON_V1}`;
    expect((await w.form(staff, `${base}/compartments/7/service`, { outOfService: 'on', reason: '' })).status).toBe(400);
    expect((await w.form(staff, `${base}/compartments/7/service`, { outOfService: 'on', reason: '门铰链坏了 broken hinge' })).location).toBe(`${base}?done=service-off#c7`);
    expect((await w.unit(JSON_V1)).compartments[6].outOfService).toBe(true);
    expect((await w.page(staff, base)).text).toContain('id="cell-LSN-0001-7" data-state="out-of-service"');
    await w.form(staff, `${base}/compartments/7/service`, { outOfService: 'off' });
    expect((await w.unit(JSON_V1)).compartments[6].outOfService).toBe(false);
    await w.form(staff, `${base}/service`, { outOfService: 'on', reason: '停电检修 power work' });
    expect((await w.unit(JSON_V1)).outOfService).toBe(true);
    await w.form(staff, `${base}/service`, { outOfService: 'off' });
    expect((await w.unit(JSON_V1)).outOfService).toBe(false);
    const service = (await w.log(JSON_V1)).filter((e) => e.event.kind === 'service');
    expect(service.map((e) => [(e.event.actor as { name?: string }).name, e.event.outOfService])).toEqual([
      [staff.name, true],
      [staff.name, false],
      [staff.name, true],
      [staff.name, false],
    ]);
  });

  it('shows a forced door as an alert once, and takes its acknowledgement once, with the member', async () => {
    w.sim(JSON_V1).forceDoor(30);
    const open = await eventually(async () => (await w.stack.gw!.alertStore.open()).find((a) => a.kind === 'door-forced' && a.compartment === 30), 8000, 'door-forced alert');
    const page = await w.page(staff, '/console/alerts');
    expect(page.text).toContain('柜门被撬开 Door forced');
    expect((await w.page(staff, '/console')).text).toMatch(/class="badge">\d+</);
    const ack = await w.form(staff, `/console/alerts/${open.id}/ack`, { note: '已到现场 on site' });
    expect(ack.location).toBe('/console/alerts?done=acked');
    expect((await w.form(admin, `/console/alerts/${open.id}/ack`, {})).status).toBe(303); // already: nothing more
    const acks = (await w.log(JSON_V1)).filter((e) => e.event.kind === 'alert-ack' && e.event.alert === open.id);
    expect(acks.map((e) => [(e.event.actor as { name?: string }).name, e.event.note])).toEqual([[staff.name, '已到现场 on site']]);
    expect((await w.stack.gw!.alertStore.get(open.id))!.ackedBy!.name).toBe(staff.name);
    w.sim(JSON_V1).closeDoor(30);
  });

  it('lists a notification that failed for good, masked, and sends it again', async () => {
    w.sms.failAlways(400);
    const phone = w.phone();
    const r = await w.deposit(courier, { unit: JSON_V1, size: 'S', phone });
    expect(r.status).toBe(201);
    await w.doorOpen(JSON_V1, r.body.compartment);
    w.sim(JSON_V1).putParcel(r.body.compartment);
    w.sim(JSON_V1).closeDoor(r.body.compartment);
    await w.waitState(courier, r.body.id, 'stored');
    const failed = await eventually(async () => (await w.stack.gw!.notifier.failures()).find((f) => f.noticeId === `${r.body.id}.stored`), 8000, 'failed notice');
    const list = await w.page(staff, '/console/notices');
    expect(list.text).toContain(`${r.body.id}.stored`);
    expect(list.text).toContain(`${phone.slice(0, 3)}****${phone.slice(-4)}`);
    expect(list.text).not.toContain(phone);
    w.sms.failAlways(null);
    const retry = await w.form(staff, '/console/notices/retry', { channel: failed.channel, job: failed.jobId });
    expect(retry.location).toBe('/console/notices?done=retried');
    await w.smsFor(`${r.body.id}.stored`);
    // not failed any more: a second retry finds nothing to retry
    expect((await w.form(staff, '/console/notices/retry', { channel: failed.channel, job: failed.jobId })).status).toBe(404);
    expect((await w.form(staff, '/console/notices/retry', { channel: 'fax', job: failed.jobId })).status).toBe(400);
  });

  it('lists every compartment whose sensors and records disagree, and a parcel gone missing as an alert', async () => {
    const { parcel } = await w.stored(courier, JSON_V1);
    // the sensors change behind the gateway's back: something in an empty compartment, and a stored parcel gone
    const sim = w.sim(JSON_V1);
    sim.setOccupied(33, true);
    sim.setOccupied(parcel.compartment, false);
    expect((await w.request('POST', `/v1/units/${JSON_V1}/commands`, { op: 'status' }, STAFF)).status).toBe(200);
    const audit = await eventually(async () => {
      const t = (await w.page(staff, '/console/audit')).text;
      return t.includes('33号格口') ? t : null;
    }, 8000, 'audit row');
    expect(audit).toContain('传感器说有物品，记录空闲 Something inside, but recorded free');
    expect(audit).toContain('门关，有物品 / door closed, something inside');
    // the stored parcel's compartment closed empty without a pickup: missing, and alerted once
    await w.waitState(courier, parcel.id, 'missing');
    const alert = await eventually(async () => (await w.stack.gw!.alertStore.open()).find((a) => a.kind === 'parcel-missing' && a.parcel === parcel.id), 8000, 'missing alert');
    expect((await w.page(staff, '/console/alerts')).text).toContain(`/console/parcels/${parcel.id}`);
    expect((await w.stack.gw!.alertStore.recent()).filter((a) => a.parcel === parcel.id)).toHaveLength(1);
    expect(alert.unit).toBe(JSON_V1);
    sim.setOccupied(33, false);
  });

  it('lists parcels past their deadline on the overdue page', async () => {
    const { parcel } = await w.stored(courier, JSON_V1);
    expect((await w.page(staff, '/console/overdue')).text).not.toContain(parcel.id);
    // time passing, without waiting three days: the parcel's deadline is moved into the past
    const redis = w.stack.gw!.redis;
    const key = `${w.stack.config.REDIS_PREFIX}parcel:${parcel.id}`;
    await redis.hset(key, PARCEL_FIELD.deadline, Date.now() - 3_600_000);
    const page = await w.page(staff, '/console/overdue');
    expect(page.text).toContain(`/console/parcels/${parcel.id}`);
    expect(page.text).toContain('超期 over by 1 小时 h');
  });

  it('locks a unit down from the console: staff cannot open or lift, an admin can do both', async () => {
    const { parcel } = await w.stored(courier, JSON_V1);
    expect((await w.form(staff, '/console/lockdown', { unit: JSON_V1, reason: '' })).status).toBe(400);
    const locked = await w.form(staff, '/console/lockdown', { unit: JSON_V1, reason: '连续异常开门 strange opens' });
    expect(locked.location).toBe('/console/lockdown?done=locked');
    expect((await w.page(staff, '/console')).text).toContain('紧急锁定中 Locked down');
    const refused = await w.form(staff, `/console/parcels/${parcel.id}/open`, { reason: 'resident at the desk', nonce: 'ld1' });
    expect(refused.status).toBe(503);
    expect(refused.text).toContain('only an admin may open');
    expect(w.sim(JSON_V1).snapshot().doors[parcel.compartment]!.open).toBe(false);
    expect((await w.form(staff, '/console/lockdown/lift', { unit: JSON_V1 })).status).toBe(403);
    // the lockdown is on the alerts page too (the guard has told the staff on duty already)
    await eventually(async () => (await w.stack.gw!.alertStore.open()).find((a) => a.kind === 'lockdown' && a.unit === JSON_V1), 8000, 'lockdown alert');
    // an admin's open passes the lockdown
    const opened = await w.form(admin, `/console/parcels/${parcel.id}/open`, { reason: 'admin checks the parcel', nonce: 'ld2' });
    expect(opened.location).toBe(`/console/parcels/${parcel.id}?done=opened`);
    await w.doorOpen(JSON_V1, parcel.compartment);
    w.sim(JSON_V1).closeDoor(parcel.compartment);
    expect((await w.form(admin, '/console/lockdown/lift', { unit: JSON_V1 })).location).toBe('/console/lockdown?done=lifted');
    expect((await w.page(staff, '/console')).text).not.toContain('紧急锁定中 Locked down');
    expect((await w.form(admin, '/console/lockdown/lift', { unit: JSON_V1 })).status).toBe(404);
  });
  it('shows Bull Board to admins only, with the phone numbers in job data masked', async () => {
    const { parcel, phone } = await w.stored(courier, JSON_V1);
    await w.smsFor(`${parcel.id}.stored`);
    expect((await w.page(staff, '/admin/queues')).status).toBe(403);
    expect((await w.page(staff, '/admin/queues/api/queues?activeQueue=notify-sms&status=latest&page=1&jobsPerPage=50')).status).toBe(403);
    expect((await w.page(admin, '/admin/queues')).status).toBe(200);
    const api = await w.page(admin, '/admin/queues/api/queues?activeQueue=notify-sms&status=latest&page=1&jobsPerPage=50');
    expect(api.status).toBe(200);
    expect(api.text).toContain(`${parcel.id}.stored`); // the job is there…
    expect(api.text).toContain(`${phone.slice(0, 3)}****${phone.slice(-4)}`); // …with its phone masked
    expect(api.text).not.toContain(phone);
  });
});
