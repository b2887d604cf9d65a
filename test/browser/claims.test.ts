import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../support/browser.js';
import { ConsoleWorld, PASSWORD } from '../support/console.js';
import { JSON_V1, type TestCourier } from '../support/parcels.js';

// what the callbacks of page.evaluate see, in the browser (the project compiles without the DOM library)
declare const document: any;
declare const window: any;

/**
 * Claims and the monthly report in headless Chromium, against the real gateway with the simulated units: an admin
 * reads the month's report, finds a parcel by the last 4 digits of the phone, opens a claim for the caller from the
 * parcel's page, reads the parcel's timeline on the claim, acknowledges and resolves it, and sees the report change.
 * A claim opened elsewhere appears on an open claims list without a reload. Every new page at 390 px: no sideways
 * scrolling, no serious or critical axe violation, a screenshot in test-results/console/.
 */
describe('staff console in a browser: claims and the monthly report', { timeout: 60_000 }, () => {
  const w = new ConsoleWorld({ NOTIFY_ATTEMPTS: '1' }, [{ id: JSON_V1 }]);
  const b = new Browser();
  let courier: TestCourier;
  let stored: { parcel: any; phone: string };
  let admin: string;
  let claimPath = '';

  beforeAll(async () => {
    await w.start();
    courier = await w.courier();
    admin = (await w.member('admin')).name;
    stored = await w.stored(courier, JSON_V1);
    await b.start();
  }, 90_000);
  afterAll(async () => {
    await b.stop();
    await w.stop();
  });

  const settle = () => b.page.waitForFunction(() => document.documentElement.dataset.live === 'open', undefined, { timeout: 10_000 });
  const figure = async (id: string) => Number(await b.page.getAttribute(`#fig-${id} .value`, 'data-value'));
  const fits = async (name: string) => {
    const path = new URL(b.page.url()).pathname;
    expect(await b.overflowX(), `${path} scrolls sideways`).toBeLessThanOrEqual(0);
    expect(await b.axe(), `axe on ${path}`).toEqual([]);
    await b.screenshot(name);
  };
  let before = { opened: 0, resolved: 0 };

  it('signs an admin in and shows the month so far, with its charts', async () => {
    await b.page.goto(`${w.url}/console/reports`);
    await b.page.fill('#name', admin);
    await b.page.fill('#password', PASSWORD);
    await Promise.all([b.page.waitForURL(`${w.url}/console/reports`), b.page.click('button[type=submit]')]);
    expect(await b.page.textContent('h1')).toContain('月报 Monthly report');
    before = { opened: await figure('claims-opened'), resolved: await figure('claims-found') };
    expect(before).toEqual({ opened: 0, resolved: 0 });
    expect(await b.page.locator('svg.chart[role=img]').count()).toBe(4);
    await fits('c1-report-before');
  });

  it('finds the parcel by the last 4 digits and opens a claim for the caller from its page', async () => {
    await b.page.goto(`${w.url}/console/parcels?q=${stored.phone.slice(-4)}`);
    await Promise.all([b.page.waitForURL(`${w.url}/console/parcels/${stored.parcel.id}`), b.page.click(`a[href="/console/parcels/${stored.parcel.id}"]`)]);
    await Promise.all([b.page.waitForURL(/\/console\/claims\/new\?parcel=/), b.page.click('#open-claim')]);
    await fits('c2-claim-new');
    await b.page.check('input[name=channel][value=visit]');
    await b.page.fill('#description', '住户说快递显示已签收，但柜里没有 tracking says delivered, box is empty');
    await Promise.all([b.page.waitForURL(/\/console\/claims\/cl_[a-z0-9]+\?done=claim-opened$/), b.page.click('main button[type=submit]')]);
    claimPath = new URL(b.page.url()).pathname;
    expect(await b.page.textContent('.flash')).toContain('The claim is taken down');
    expect(await b.page.getAttribute('#claim-state', 'data-state')).toBe('open');
    const timeline = await b.page.textContent('#claim-timeline');
    expect(timeline).toContain('门关了 door closed');
    expect(timeline).toContain('待取 waiting');
    expect(await b.page.textContent('#claim-facts')).not.toContain(stored.phone);
    await fits('c3-claim-open');
  });

  it('acknowledges and resolves the claim', async () => {
    await b.page.fill('#ack-note', '去柜子看看 going to look');
    await Promise.all([b.page.waitForURL(/done=claim-acknowledge/), b.page.click('#act-acknowledge button')]);
    expect(await b.page.getAttribute('#claim-state', 'data-state')).toBe('acknowledged');
    expect(await b.page.textContent('#claim-facts')).toContain('按时完成 met');
    await b.page.selectOption('#outcome', 'found');
    await b.page.fill('#res-reason', '包裹在 17 号格口，已交给住户 found in box 17, handed over');
    await Promise.all([b.page.waitForURL(/done=claim-resolve/), b.page.click('#act-resolve button')]);
    expect(await b.page.getAttribute('#claim-state', 'data-state')).toBe('resolved');
    expect(await b.page.textContent('#claim-outcome')).toContain('已找到 found');
    expect(await b.page.textContent('#claim-log')).toContain('going to look');
    await fits('c4-claim-resolved');
    await b.screen('c4b-claim-phone');
  });

  it('shows the report changed: one more claim opened, one found', async () => {
    await b.page.goto(`${w.url}/console/reports`);
    expect(await figure('claims-opened')).toBe(before.opened + 1);
    expect(await figure('claims-found')).toBe(before.resolved + 1);
    expect(await figure('resolution-rate')).toBe(1);
    expect(await b.page.locator('#chart-claims rect.bar-cur[data-value="1"]').count()).toBe(1);
    // the figures fit a phone as they are: no scrolling inside their table either
    expect(await b.page.evaluate(() => { const t = document.querySelector('#report-figures .table-wrap'); return t.scrollWidth - t.clientWidth; })).toBeLessThanOrEqual(0);
    await fits('c5-report-after');
    await b.screen('c5b-report-charts-phone', '#report-charts');
  });

  it('puts a claim opened elsewhere on an open claims list, and its acknowledgement on its page, without a reload', async () => {
    await b.page.goto(`${w.url}/console/claims`);
    await settle();
    await b.page.evaluate(() => (window.sameDocument = true));
    const v = await w.stack.gw!.claims.service.open(
      { phone: w.phone(), channel: 'phone', description: 'called the office', trackingNumber: 'YT55667788', carrier: 'YTO' },
      { type: 'staff', id: 'someone', name: '同事 colleague' },
    );
    await b.page.waitForSelector(`#claim-${v.claim.id}`, { timeout: 10_000 });
    expect(await b.page.evaluate(() => window.sameDocument)).toBe(true);
    expect(await b.page.textContent(`#claim-${v.claim.id}`)).toContain('剩');
    await fits('c6-claims-list');
    // and on the claim's own page, a colleague's acknowledgement arrives without a reload too
    await b.page.goto(`${w.url}/console/claims/${v.claim.id}`);
    await settle();
    await b.page.evaluate(() => (window.sameDocument = true));
    await w.stack.gw!.claims.service.act(v.claim.id, { action: 'acknowledge', note: '我来处理 mine' }, { type: 'staff', id: 'someone', name: '同事 colleague' });
    await b.page.waitForSelector('#claim-state[data-state="acknowledged"]', { timeout: 10_000 });
    expect(await b.page.textContent('#claim-log')).toContain('我来处理 mine');
    expect(await b.page.isVisible('#act-resolve')).toBe(true);
    expect(await b.page.evaluate(() => window.sameDocument)).toBe(true);
    await b.page.goto(`${w.url}/console/claims?phone=${stored.phone.slice(-4)}&state=all`);
    expect(await b.page.textContent('#claims')).toContain(stored.parcel.trackingNumber);
    await fits('c7-claims-filtered');
  });

  it('fits the menu on a phone: the rest behind "more", opened without a script', async () => {
    await b.page.goto(`${w.url}${claimPath}`);
    expect(await b.page.isVisible('nav a[href="/console/lockdown"]')).toBe(false);
    await b.page.click('nav summary');
    expect(await b.page.isVisible('nav a[href="/console/lockdown"]')).toBe(true);
    expect(await b.overflowX()).toBeLessThanOrEqual(0);
    await b.screenshot('c8-menu-more');
    await Promise.all([b.page.waitForURL(`${w.url}/console/reports`), b.page.click('nav a[href="/console/reports"]')]);
    expect(await b.page.getAttribute('nav summary', 'aria-current')).toBe('page');
    const foreign = b.requests.filter((u) => !u.startsWith(w.url) && !u.startsWith('data:'));
    expect(foreign).toEqual([]);
    expect(b.console.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
  });

  it('is usable on a desktop too', async () => {
    await b.page.setViewportSize({ width: 1280, height: 900 });
    await b.page.goto(`${w.url}${claimPath}`);
    expect(await b.overflowX()).toBeLessThanOrEqual(0);
    await b.screenshot('c9-claim-desktop');
    await b.page.goto(`${w.url}/console/reports`);
    await b.screenshot('c10-report-desktop');
  });
});
