import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleWorld, type Session } from '../support/console.js';
import { JSON_V1, type TestCourier } from '../support/parcels.js';

const claimIdOf = (location: string | null) => /\/console\/claims\/(cl_[a-z0-9]+)\?done=claim-opened$/.exec(location ?? '')?.[1] ?? null;

/**
 * The console's claims pages and monthly report over HTTP, against the real gateway: the same service, rules and
 * refusals as the API (statuses from the API's table), every change recorded with the member.
 */
describe('staff console: claims and the monthly report', () => {
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

  it('refuses a claim form with a bad field, naming it, and takes nothing down', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ phone: '', channel: 'phone', trackingNumber: 'SF1234567', description: 'lost' }, 'phone'],
      [{ phone: '1380013800', channel: 'phone', trackingNumber: 'SF1234567', description: 'lost' }, 'phone'],
      [{ phone: '13800138000', channel: 'app', trackingNumber: 'SF1234567', description: 'lost' }, 'channel'],
      [{ phone: '13800138000', channel: 'phone', trackingNumber: 'SF 12', description: 'lost' }, 'trackingNumber'],
      [{ phone: '13800138000', channel: 'phone', trackingNumber: '', description: 'lost' }, 'trackingNumber'],
      [{ phone: '13800138000', channel: 'visit', trackingNumber: 'SF1234567', description: '  ' }, 'description'],
    ];
    for (const [fields, field] of cases) {
      const res = await w.form(staff, '/console/claims', fields);
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(res.text, JSON.stringify(fields)).toContain(`${field}:`);
      expect(res.text).toContain('action="/console/claims"'); // the form again, with what was typed
    }
    // a parcel that does not exist: 404, as on the API
    expect((await w.form(staff, '/console/claims', { parcelId: 'p_nope', phone: '13800138000', channel: 'phone', description: 'lost' })).status).toBe(404);
    expect(await w.stack.gw!.claims.service.list({ limit: 10, states: [] })).toHaveLength(0);
  });

  it('opens a claim for a caller from the parcel page, shows the parcel timeline, and moves it along with the rules of the API', async () => {
    const { parcel, phone } = await w.stored(courier, JSON_V1);
    const parcelPage = await w.page(staff, `/console/parcels/${parcel.id}`);
    expect(parcelPage.text).toContain(`/console/claims/new?parcel=${parcel.id}`);
    const form = await w.page(staff, `/console/claims/new?parcel=${parcel.id}`);
    expect(form.status).toBe(200);
    expect(form.text).toContain(`name="parcelId" value="${parcel.id}"`);
    expect(form.text).not.toContain(phone); // the recipient's number is not put in the page: empty means the recipient
    expect((await w.page(staff, '/console/claims/new?parcel=p_nope')).status).toBe(404);

    const opened = await w.form(staff, '/console/claims', { parcelId: parcel.id, phone: '', channel: 'visit', description: '住户说没收到 resident says it never came' });
    expect(opened.status).toBe(303);
    const id = claimIdOf(opened.location);
    expect(id).not.toBeNull();
    const claim = (await w.stack.gw!.claims.service.get(id!))!;
    expect(claim.claim.phone).toBe(phone);
    expect(claim.claim.channel).toBe('visit');
    expect(claim.claim.openedBy).toMatchObject({ type: 'staff', name: staff.name });

    // a second claim about the same parcel: 409, as on the API
    const dup = await w.form(staff, '/console/claims', { parcelId: parcel.id, channel: 'phone', description: 'again' });
    expect(dup.status).toBe(409);
    expect(dup.text).toContain(`href="/console/claims/${id}" id="existing-claim"`);
    expect((await w.page(staff, `/console/parcels/${parcel.id}`)).text).toContain(`href="/console/claims/${id}"`);

    const detail = await w.page(staff, `/console/claims/${id}`);
    expect(detail.status).toBe(200);
    expect(detail.text).toContain(claim.claim.ref);
    expect(detail.text).toContain('门关了 door closed'); // the parcel's evidence timeline
    expect(detail.text).toContain('data-clock="ack"');
    expect(detail.text).not.toContain(phone);
    expect(detail.text).toContain('action="/console/claims/' + id + '/acknowledge"');
    expect(detail.text).not.toContain('/resolve"'); // not open to an open claim: only acknowledge and note
    expect((await w.page(staff, '/console/claims/cl_nope')).status).toBe(404);

    // resolve before acknowledging: 409 (wrong state)
    expect((await w.form(staff, `/console/claims/${id}/resolve`, { outcome: 'found' })).status).toBe(409);
    const ack = await w.form(staff, `/console/claims/${id}/acknowledge`, { note: '去柜子看看 going to look' });
    expect(ack.location).toBe(`/console/claims/${id}?done=claim-acknowledge`);
    expect((await w.form(staff, `/console/claims/${id}/acknowledge`, {})).status).toBe(409);
    // rejected needs a reason the resident is told: 400 naming it; an unknown outcome: 400
    const noReason = await w.form(staff, `/console/claims/${id}/resolve`, { outcome: 'rejected', reason: '' });
    expect(noReason.status).toBe(400);
    expect(noReason.text).toContain('reason');
    expect((await w.form(staff, `/console/claims/${id}/resolve`, { outcome: 'lost-forever' })).status).toBe(400);
    expect((await w.form(staff, `/console/claims/${id}/note`, { text: '' })).status).toBe(400);
    expect((await w.form(staff, `/console/claims/${id}/note`, { text: '监控显示下午 3 点有人取走 camera: taken at 3 pm' })).status).toBe(303);
    expect((await w.form(admin, `/console/claims/${id}/resolve`, { outcome: 'found', reason: '在 17 号格口找到 found in box 17' })).location).toBe(`/console/claims/${id}?done=claim-resolve`);
    expect((await w.form(admin, `/console/claims/${id}/close`, {})).status).toBe(303);

    const after = (await w.stack.gw!.claims.service.get(id!))!;
    expect(after.claim.state).toBe('closed');
    expect(after.log.map((e) => [e.action, (e.by as { name?: string }).name])).toEqual([
      ['open', staff.name],
      ['acknowledge', staff.name],
      ['note', staff.name],
      ['resolve', admin.name],
      ['close', admin.name],
    ]);
    const page = (await w.page(staff, `/console/claims/${id}`)).text;
    expect(page).toContain('已找到 found');
    expect(page).toContain('camera: taken at 3 pm');
    // the claim's printable page and file, from the links on its page, with the same session
    expect(page).toContain(`href="/v1/admin/claims/${id}/print"`);
    const print = await w.page(staff, `/v1/admin/claims/${id}/print`);
    expect(print.status).toBe(200);
    expect(print.text).toContain(after.claim.ref);
    // showing the number is a recorded staff action
    expect((await w.page(staff, `/console/claims/${id}?reveal=phone`)).text).toContain(phone);
    const ev = w.stack.gw!.evidence.log;
    const office = (await w.stack.gw!.redis.xrange(ev.k.evidence('office'), '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]!));
    const views = office.filter((e) => e.kind === 'staff' && e.action === 'claim.view');
    expect(views.map((e) => [e.actor.name, e.details.claimId])).toEqual([[staff.name, id]]);
  });

  it('lists claims with their clocks, filtered by state, clock, unit and the last 4 digits of the phone', async () => {
    const { parcel, phone } = await w.stored(courier, JSON_V1);
    const other = w.phone();
    await w.form(staff, '/console/claims', { parcelId: parcel.id, channel: 'phone', description: 'not there' });
    await w.form(staff, '/console/claims', { phone: other, channel: 'phone', trackingNumber: 'YT99887766', carrier: 'YTO', description: 'never seen' });

    const active = await w.page(staff, '/console/claims');
    expect(active.status).toBe(200);
    expect(active.text).toContain('YT99887766');
    expect(active.text).toContain(parcel.trackingNumber);
    expect(active.text).toContain('data-clock="resolve"');
    expect(active.text).not.toContain(phone);
    const byTail = await w.page(staff, `/console/claims?phone=${phone.slice(-4)}`);
    expect(byTail.text).toContain(parcel.trackingNumber);
    expect(byTail.text).not.toContain('YT99887766');
    expect((await w.page(staff, `/console/claims?phone=${other}`)).text).toContain('YT99887766');
    expect((await w.page(staff, `/console/claims?unit=${JSON_V1}`)).text).not.toContain('YT99887766');
    expect((await w.page(staff, '/console/claims?state=closed')).text).not.toContain('YT99887766');
    expect((await w.page(staff, '/console/claims?clock=breached')).text).not.toContain('YT99887766');
    expect((await w.page(staff, '/console/claims?clock=ok')).text).toContain('YT99887766');
    for (const bad of ['state=lost', 'clock=late', 'unit=LSN-9999', 'phone=12345']) {
      const res = await w.page(staff, `/console/claims?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.text, bad).toContain(`${bad.split('=')[0]}:`);
    }
  });

  it('shows the monthly report to admins only, with SVG charts that carry a title, a description and a table', async () => {
    expect((await w.page(staff, '/console/reports')).status).toBe(403);
    const res = await w.page(admin, '/console/reports');
    expect(res.status).toBe(200);
    const opened = /id="fig-claims-opened"[^]*?data-value="(\d+)"/.exec(res.text)?.[1];
    expect(Number(opened)).toBe((await w.stack.gw!.claims.service.list({ limit: 100 })).length);
    for (const chart of ['chart-claims', 'chart-collections', 'chart-deposits', 'chart-resolve']) {
      expect(res.text).toContain(`<svg class="chart" id="${chart}" viewBox=`);
      expect(res.text).toContain(`aria-labelledby="${chart}-title ${chart}-desc"`);
      expect(res.text).toContain(`<title id="${chart}-title">`);
    }
    expect(res.text).toContain('<table>');
    expect(res.text).not.toMatch(/<script(?! src="\/console\/static\/live\.js")/);
    const bad = await w.page(admin, '/console/reports?month=2026-13');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('month:');
    expect((await w.page(admin, '/console/reports?month=2020-02')).text).toContain('data-value="0"');
  });
});
