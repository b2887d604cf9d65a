import type { Faults } from '../../simulators/index.js';
import type { StaffRole } from '../../src/staff/types.js';
import { ParcelWorld, type TestCourier } from './parcels.js';

export const PASSWORD = 'console test password';

export interface Session {
  name: string;
  cookie: string;
  csrf: string;
}

export type PageRes = { status: number; text: string; location: string | null };

/**
 * Console tests: the parcel world (real gateway, simulators the test drives, receivers for SMS and webhooks) with
 * named staff signed in through the login form, and helpers that speak to the console as a browser would (cookie,
 * Origin, the form's _csrf field; redirects not followed).
 */
export class ConsoleWorld extends ParcelWorld {
  private members = 0;

  constructor(env: Record<string, string> = {}, units?: { id: string; faults?: Partial<Faults> }[]) {
    super(env, units);
  }

  get url(): string {
    return this.stack.gw!.url;
  }

  /** A unit's live state, straight from the store. */
  unit(id: string): Promise<any> {
    return this.stack.unit(id);
  }

  /** A unit's evidence chain, oldest first. */
  log(id: string) {
    return this.stack.log(id, 2000);
  }

  /** Adds a member and signs them in through the console's login form. */
  async member(role: StaffRole = 'staff'): Promise<Session> {
    const name = `${role}${++this.members}`;
    await this.stack.gw!.staff.add({ name, role, password: PASSWORD });
    return this.login(name);
  }

  async login(name: string, password = PASSWORD): Promise<Session> {
    const res = await fetch(`${this.url}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: this.url, ...this.client() },
      body: new URLSearchParams({ name, password }).toString(),
    });
    const set = res.headers.getSetCookie().find((c) => c.startsWith('lg_staff='));
    if (res.status !== 303 || !set) throw new Error(`login failed: ${res.status}`);
    const cookie = set.split(';')[0]!;
    const me = await fetch(`${this.url}/v1/staff/me`, { headers: { cookie } });
    const csrf = ((await me.json()) as { csrfToken: string }).csrfToken;
    return { name, cookie, csrf };
  }

  /** A console page (or any path) as that member's browser asks for it. */
  async page(s: Session | null, path: string): Promise<PageRes> {
    const res = await fetch(this.url + path, { redirect: 'manual', headers: s ? { cookie: s.cookie } : {} });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }

  /** A console form post; `csrf: false` leaves the token out, `origin` pretends another site. */
  async form(s: Session | null, path: string, fields: Record<string, string> = {}, opts: { csrf?: boolean; origin?: string } = {}): Promise<PageRes> {
    const body = new URLSearchParams({ ...fields, ...(s && opts.csrf !== false ? { _csrf: s.csrf } : {}) });
    const res = await fetch(this.url + path, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: opts.origin ?? this.url, ...(s ? { cookie: s.cookie } : {}) },
      body: body.toString(),
    });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }

  /** A stored parcel for a fresh phone at `unit` (deposit, put in, close): the parcel as the courier sees it. */
  async stored(c: TestCourier, unit: string, size: 'S' | 'M' | 'L' = 'S'): Promise<{ parcel: any; phone: string; code: string }> {
    const phone = this.phone();
    const { parcel, code } = await this.storeParcel(c, { unit, size, phone });
    return { parcel, phone, code };
  }
}
