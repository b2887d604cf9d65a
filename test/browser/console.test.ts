import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../support/browser.js';
import { ConsoleWorld, PASSWORD } from '../support/console.js';
import { COMPACT_V2, JSON_V1, type TestCourier } from '../support/parcels.js';

// what the callbacks of page.evaluate see, in the browser (the project compiles without the DOM library)
declare const document: any;
declare const window: any;
declare function getComputedStyle(el: unknown): { backgroundColor: string };

/**
 * The console in headless Chromium (playwright-core, Debian's chromium), against the real gateway with the three
 * simulated units: a member signs in, finds a parcel by the last 4 digits of the phone, reads its timeline, opens it
 * with a reason and watches it collected, watches a compartment change colour when a simulated door opens (no
 * reload), and every page is checked at 390 px (no sideways scrolling), by axe-core (no serious or critical
 * violation) and photographed (test-results/console/).
 */
describe('staff console in a browser', { timeout: 60_000 }, () => {
  const w = new ConsoleWorld({ NOTIFY_ATTEMPTS: '1' });
  const b = new Browser();
  let courier: TestCourier;
  let stored: { parcel: any; phone: string };
  let admin: string;

  beforeAll(async () => {
    await w.start();
    courier = await w.courier();
    admin = (await w.member('admin')).name;
    await w.member('staff');
    stored = await w.stored(courier, JSON_V1);
    await w.stored(courier, COMPACT_V2, 'M');
    await b.start();
  }, 90_000);
  afterAll(async () => {
    await b.stop();
    await w.stop();
  });

  const settle = () => b.page.waitForFunction(() => document.documentElement.dataset.live === 'open', undefined, { timeout: 10_000 });

  it('sends a visitor to the login page and signs them in', async () => {
    await b.page.goto(`${w.url}/console/audit`);
    expect(new URL(b.page.url()).pathname).toBe('/console/login');
    await b.page.fill('#name', admin);
    await b.page.fill('#password', PASSWORD);
    await b.screenshot('01-login');
    await Promise.all([b.page.waitForURL(`${w.url}/console/audit`), b.page.click('button[type=submit]')]);
    expect(await b.page.textContent('h1')).toContain('盘点 Inventory audit');
  });

  it('turns a compartment to "door open" without a reload when a simulated door opens', async () => {
    await b.page.goto(`${w.url}/console`);
    await settle();
    const cell = b.page.locator(`#cell-${JSON_V1}-20`);
    expect(await cell.getAttribute('data-state')).toBe('free');
    const before = await cell.evaluate((el: unknown) => getComputedStyle(el).backgroundColor);
    await b.page.evaluate(() => (window.sameDocument = true));
    w.sim(JSON_V1).forceDoor(20);
    await b.page.waitForSelector(`#cell-${JSON_V1}-20[data-state="door-open"]`, { timeout: 10_000 });
    expect(await cell.evaluate((el: unknown) => getComputedStyle(el).backgroundColor)).not.toBe(before);
    expect(await b.page.evaluate(() => window.sameDocument)).toBe(true);
    // the forced door is an alert, and the open-alert count in the menu followed without a reload too
    await b.page.waitForSelector('#nav-alerts .badge', { timeout: 10_000 });
    await b.screenshot('02-overview-door-open');
    w.sim(JSON_V1).closeDoor(20);
    await b.page.waitForSelector(`#cell-${JSON_V1}-20[data-state="free"]`, { timeout: 10_000 });
  });

  it('finds a parcel by the last 4 digits of the phone, shows its timeline, opens it with a reason and follows it live', async () => {
    await b.page.goto(`${w.url}/console/parcels`);
    await b.page.fill('#q', stored.phone.slice(-4));
    await Promise.all([b.page.waitForURL(/\/console\/parcels\?q=/), b.page.click('main button[type=submit]')]);
    await b.screenshot('03-search');
    await Promise.all([b.page.waitForURL(`${w.url}/console/parcels/${stored.parcel.id}`), b.page.click(`a[href="/console/parcels/${stored.parcel.id}"]`)]);
    const timeline = await b.page.textContent('#parcel-timeline');
    expect(timeline).toContain('待取 waiting');
    expect(timeline).toContain('门关了 door closed');
    expect(await b.page.textContent('#parcel-facts')).not.toContain(stored.phone);
    await b.screenshot('04-parcel');

    await b.page.fill('#reason', '住户在前台取件 resident at the office');
    await Promise.all([b.page.waitForURL(/done=opened/), b.page.click('form[action$="/open"] button')]);
    expect(await b.page.textContent('.flash')).toContain('The door was asked to open');
    await settle();
    await b.page.evaluate(() => (window.sameDocument = true));
    await w.doorOpen(JSON_V1, stored.parcel.compartment);
    w.sim(JSON_V1).takeParcel(stored.parcel.compartment);
    w.sim(JSON_V1).closeDoor(stored.parcel.compartment);
    await b.page.waitForFunction(() => document.querySelector('#parcel-facts')?.textContent?.includes('已取 collected'), undefined, { timeout: 10_000 });
    expect(await b.page.textContent('#parcel-timeline')).toContain('员工开门 staff open');
    expect(await b.page.evaluate(() => window.sameDocument)).toBe(true);
    await b.screenshot('05-parcel-collected');
  });

  // ':tail' and ':parcel' stand for the stored parcel (known once the world runs)
  const pages: [string, string][] = [
    ['06-overview', '/console'],
    ['07-unit', `/console/units/${JSON_V1}`],
    ['08-overdue', '/console/overdue'],
    ['09-alerts', '/console/alerts'],
    ['10-notices', '/console/notices'],
    ['11-audit', '/console/audit'],
    ['11b-lockdown', '/console/lockdown'],
    ['12-staff', '/console/staff'],
    ['13-search', '/console/parcels?q=:tail'],
    ['14-parcel', '/console/parcels/:parcel'],
  ];
  for (let i = 0; i < pages.length; i++) {
    it(`serves ${pages[i]![1]} at 390 px without sideways scrolling, with no serious or critical axe violation`, async () => {
      const [name, template] = pages[i]!;
      const path = template.replace(':tail', stored.phone.slice(-4)).replace(':parcel', stored.parcel.id);
      await b.page.goto(w.url + path);
      expect(b.page.url(), path).toBe(w.url + path);
      expect(await b.overflowX(), `${path} scrolls sideways`).toBeLessThanOrEqual(0);
      expect(await b.axe(), `axe on ${path}`).toEqual([]);
      await b.screenshot(name);
    });
  }

  it('acknowledges an alert, and shows Bull Board to an admin with nothing from another host', async () => {
    await b.page.goto(`${w.url}/console/alerts`);
    await Promise.all([b.page.waitForURL(/done=acked/), b.page.click('#alerts-open form button')]);
    expect(await b.page.textContent('#alerts-done')).toContain(admin);
    await b.page.goto(`${w.url}/admin/queues`);
    await b.page.waitForSelector('text=notify-sms', { timeout: 10_000 });
    await b.screenshot('15-bull-board');
    const foreign = b.requests.filter((u) => !u.startsWith(w.url) && !u.startsWith('data:'));
    expect(foreign).toEqual([]);
    expect(b.console.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
  });

  it('is usable on a desktop too', async () => {
    await b.page.setViewportSize({ width: 1280, height: 900 });
    await b.page.goto(`${w.url}/console`);
    expect(await b.overflowX()).toBeLessThanOrEqual(0);
    await b.screenshot('16-overview-desktop');
    await b.page.goto(`${w.url}/console/parcels/${stored.parcel.id}`);
    await b.screenshot('17-parcel-desktop');
  });
});
