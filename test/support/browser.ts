import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axe from 'axe-core';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

// what the callbacks of page.evaluate see, in the browser (the project compiles without the DOM library)
declare const document: { documentElement: { scrollWidth: number; clientWidth: number } };
declare const window: { axe: typeof axe };

/** Debian's chromium (`.ci/run` installs it). */
export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of each page, kept as test artifacts (gitignored). */
export const ARTIFACTS = new URL('../../test-results/console/', import.meta.url).pathname;

/**
 * Headless Chromium through playwright-core, on a fresh profile, asking nothing of the network on its own (no
 * component updates, no sync, no QUIC). Every request a page makes is recorded, so a test can prove that nothing
 * went to another host; every console message is kept (a blocked script or style shows up there).
 */
export class Browser {
  ctx!: BrowserContext;
  page!: Page;
  readonly requests: string[] = [];
  readonly console: string[] = [];
  private dir = '';

  async start(viewport = { width: 390, height: 844 }): Promise<this> {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    this.dir = mkdtempSync(join(tmpdir(), 'lg-chromium-'));
    this.ctx = await chromium.launchPersistentContext(this.dir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      locale: 'zh-CN',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
    });
    this.page = this.ctx.pages()[0] ?? (await this.ctx.newPage());
    this.page.on('request', (r) => this.requests.push(r.url()));
    this.page.on('console', (m) => this.console.push(`${m.type()}: ${m.text()}`));
    return this;
  }

  async stop(): Promise<void> {
    await this.ctx?.close().catch(() => undefined);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  async screenshot(name: string): Promise<void> {
    await this.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  /** What the screen shows (not the whole page), from `selector` at the top if given: pictures for the README. */
  async screen(name: string, selector?: string): Promise<void> {
    if (selector) await this.page.locator(selector).first().evaluate((el: any) => el.scrollIntoView({ block: 'start' }));
    await this.page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  }

  /** Horizontal overflow of the page in CSS pixels (0: no sideways scrolling). */
  overflowX(): Promise<number> {
    return this.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  }

  /**
   * axe-core's serious and critical violations on the page. The script is evaluated through the DevTools protocol,
   * which the page's content security policy does not govern, so the page is checked as served.
   */
  async axe(): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
    await this.page.evaluate(axe.source);
    const result = await this.page.evaluate(async () => {
      const r = await window.axe.run(document as never, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact ?? '', help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.html.slice(0, 160)) }));
    });
    return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }
}
