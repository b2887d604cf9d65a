import { UNITS } from '../../devices/units.js';
import { createSimulator, type SimulatedUnit } from '../../simulators/index.js';
import { DEV_STAFF_TOKEN, parseConfig } from '../../src/config/config.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { UnitProfile } from '../../src/domain/model.js';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.js';
import { parseApiJson } from './api-time.js';
import { TestReceiver, type ReceivedRequest } from './receiver.js';
import { TestRedis } from './redis.js';
import { cookiePair, otpIn, TEST_SCRYPT } from './signin.js';
import { credentials, eventually, logger } from './stack.js';

/**
 * Claims tests: the real gateway on its own redis-server, with a ManualClock (the claims' clocks, sessions, parcels
 * and the sweep all read it), a TestReceiver as SMS provider and one as the property's webhook, DUTY_PHONES, and,
 * when asked, the json-v1 unit simulated with the same clock as its device time (so parcels can be placed in any
 * past month). The clock starts 60 days back: commands to the simulator carry real-time expiries, which a device
 * living in the past always finds valid.
 */
export const JSON_V1 = UNITS[0]!.id;
export const BOOTSTRAP = { authorization: `Bearer ${DEV_STAFF_TOKEN}` };
export const DUTY = ['13900000001', '13900000002'];
export const H = 3600_000;
export const PASSWORD = 'correct horse battery';

export type Res = { status: number; body: any; headers: Headers; text: string };
export type Headers_ = Record<string, string>;

export class ClaimsWorld {
  readonly redis = new TestRedis();
  readonly sms = new TestReceiver();
  readonly hooks = new TestReceiver();
  readonly clock = new ManualClock(Date.now() - 60 * 24 * H);
  gw!: RunningGateway;
  sim: SimulatedUnit | null = null;
  private n = 0;

  constructor(private readonly opts: { sim?: boolean; env?: Record<string, string> } = {}) {}

  async start(): Promise<this> {
    await Promise.all([this.redis.start(), this.sms.start(), this.hooks.start()]);
    const config = parseConfig({
      NODE_ENV: 'test',
      PORT: '0',
      MQTT_PORT: '0',
      REDIS_URL: this.redis.url,
      SIMULATORS: 'off',
      LOG_LEVEL: 'silent',
      SMS_URL: `${this.sms.url}/sms`,
      SMS_RATE_PER_S: '200',
      PROPERTY_WEBHOOK_URL: `${this.hooks.url}/hook`,
      PROPERTY_WEBHOOK_SECRET: 'property-webhook-secret-for-tests',
      WEBHOOK_RATE_PER_S: '200',
      QUIET_HOURS: 'off',
      REMINDER_HOURS: 'off',
      NOTIFY_BACKOFF_MS: '50',
      TRUST_PROXY: 'on',
      PRESENCE_CODES: 'off',
      SWEEP_MS: '100',
      CLAIM_SWEEP_MS: '100',
      DUTY_PHONES: DUTY.join(','),
      STAFF_SESSION_HOURS: '168',
      RESIDENT_SESSION_MINUTES: '1440',
      ...this.opts.env,
    });
    // with the simulator, the one unit it plays; without, the usual three (offline: claims need no unit)
    const units = this.opts.sim ? UNITS.filter((u) => u.id === JSON_V1) : UNITS;
    this.gw = await startGateway(config, { logger, clock: this.clock, scrypt: TEST_SCRYPT, units: units as UnitProfile[] });
    if (this.opts.sim) {
      const unit = units[0]!;
      this.sim = createSimulator({
        unit,
        brokerUrl: this.gw.mqttUrl,
        password: credentials.units[unit.id]!.password,
        key: Buffer.from(credentials.units[unit.id]!.keyHex!, 'hex'),
        logger,
        now: () => this.clock.now(),
        autopilot: { enabled: false },
      });
      await this.sim.start();
      await eventually(async () => (await this.request('GET', `/v1/units/${unit.id}`)).body.online === true, 10_000, 'unit online');
    }
    return this;
  }

  async stop(): Promise<void> {
    await this.sim?.stop().catch(() => undefined);
    await this.gw?.close();
    await Promise.all([this.sms.stop(), this.hooks.stop()]);
    await this.redis.destroy();
  }

  phone(): string {
    return `136${String(process.pid % 10_000).padStart(4, '0')}${String(++this.n).padStart(4, '0')}`;
  }

  tracking(): string {
    return `CL${process.pid % 1000}X${++this.n}`;
  }

  client(): Headers_ {
    const i = ++this.n;
    return { 'x-forwarded-for': `10.7.${(i >> 8) & 255}.${i & 255}` };
  }

  async request(method: string, path: string, opts: { json?: unknown; headers?: Headers_ } = {}): Promise<Res> {
    const headers: Headers_ = { ...opts.headers };
    if (opts.json !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(this.gw.url + path, { method, headers, redirect: 'manual', ...(opts.json === undefined ? {} : { body: JSON.stringify(opts.json) }) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = parseApiJson(text); // times back to epoch ms
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, headers: res.headers, text };
  }

  /** A resident signed in by SMS: the Authorization header of their token. */
  async resident(phone: string): Promise<Headers_> {
    const before = this.otpTexts(phone).length;
    const r = await this.request('POST', '/v1/resident/otp', { json: { phone }, headers: this.client() });
    if (r.status !== 202) throw new Error(`otp: ${r.status} ${r.text}`);
    const sms = await eventually(() => this.otpTexts(phone)[before], 8000, `sign-in text to ${phone}`);
    const s = await this.request('POST', '/v1/resident/session', { json: { phone, code: otpIn(sms) } });
    if (s.status !== 201) throw new Error(`session: ${s.status} ${s.text}`);
    return { authorization: `Bearer ${s.body.token}` };
  }

  /** A named member with an API token: {id, name, auth, tokenId}. */
  async member(role: 'staff' | 'admin' = 'staff'): Promise<{ id: string; name: string; auth: Headers_; tokenId: string }> {
    const name = `duty${process.pid % 1000}m${++this.n}`;
    const m = await this.request('POST', '/v1/admin/staff', { json: { name, role, password: PASSWORD }, headers: BOOTSTRAP });
    if (m.status !== 201) throw new Error(`member: ${m.status} ${m.text}`);
    const t = await this.request('POST', `/v1/admin/staff/${m.body.id}/tokens`, { json: { label: 'tests' }, headers: BOOTSTRAP });
    if (t.status !== 201) throw new Error(`token: ${t.status} ${t.text}`);
    return { id: m.body.id, name, auth: { authorization: `Bearer ${t.body.token}` }, tokenId: t.body.record.id };
  }

  /** A signed-in browser of a member: the cookie and Origin a same-site request carries, and the CSRF token. */
  async session(name: string): Promise<{ headers: Headers_; csrf: string }> {
    const r = await fetch(`${this.gw.url}/v1/staff/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.client() },
      body: JSON.stringify({ name, password: PASSWORD }),
    });
    const body = (await r.json()) as { csrfToken: string };
    return { headers: { cookie: cookiePair(r.headers.getSetCookie()[0]!), origin: this.gw.url }, csrf: body.csrfToken };
  }

  otpTexts(phone: string): ReceivedRequest[] {
    return this.textsTo(phone).filter((r) => (r.body as { id: string }).id.startsWith('otp.'));
  }

  textsTo(phone: string): ReceivedRequest[] {
    return this.sms.accepted.filter((r) => (r.body as { to?: string })?.to === `+86${phone}`);
  }

  /** Waits for the accepted text of a notice id (`{claim}.opened`). */
  text(noticeId: string): Promise<ReceivedRequest> {
    return eventually(() => this.sms.accepted.find((r) => (r.body as { id?: string }).id === `${noticeId}.sms`), 8000, `text ${noticeId}`);
  }

  hooksOf(kind: string, claim?: string): ReceivedRequest[] {
    return this.hooks.accepted.filter((r) => {
      const b = r.body as { kind?: string; params?: { claim?: string } };
      return b.kind === kind && (claim === undefined || b.params?.claim === claim);
    });
  }

  // ---- parcels through the real flow (needs the simulator) ----

  async courier(): Promise<Headers_> {
    const r = await this.request('POST', '/v1/admin/couriers', { json: { name: `C${++this.n}`, carrier: 'SF' }, headers: BOOTSTRAP });
    if (r.status !== 201) throw new Error(`courier: ${r.status} ${r.text}`);
    return { authorization: `Bearer ${r.body.token}` };
  }

  async parcel(courier: Headers_, id: string): Promise<any> {
    return (await this.request('GET', `/v1/deposits/${id}`, { headers: courier })).body;
  }

  async waitState(courier: Headers_, id: string, state: string): Promise<any> {
    return eventually(async () => {
      const p = await this.parcel(courier, id);
      return p.state === state ? p : null;
    }, 8000, `parcel ${id} ${state}`);
  }

  /** Deposit, put in, close: the stored parcel and its pickup code (from the resident's text; '' with `noCode`). */
  async storeParcel(courier: Headers_, phone: string, opts: { noCode?: boolean } = {}): Promise<{ parcel: any; code: string }> {
    const r = await this.request('POST', '/v1/deposits', {
      json: { unit: JSON_V1, size: 'S', phone, carrier: 'SF', trackingNumber: this.tracking(), shareCompartment: false },
      headers: courier,
    });
    if (r.status !== 201) throw new Error(`deposit: ${r.status} ${r.text}`);
    const no = r.body.compartment as number;
    const sim = this.sim!;
    await eventually(() => sim.snapshot().doors[no]?.open, 8000, `door ${no} open`);
    sim.putParcel(no);
    sim.closeDoor(no);
    const parcel = await this.waitState(courier, r.body.id, 'stored');
    if (opts.noCode) return { parcel, code: '' };
    const sms = await this.text(`${parcel.id}.stored`);
    const code = /取件码 (\d{6})/.exec((sms.body as { text: string }).text)![1]!;
    return { parcel, code };
  }

  /** The resident types the code, takes the parcel, closes the door. */
  async collect(courier: Headers_, parcel: { id: string; compartment: number }, code: string): Promise<void> {
    const sim = this.sim!;
    sim.typeCode(code);
    await eventually(() => sim.snapshot().doors[parcel.compartment]?.open, 8000, `door ${parcel.compartment} open`);
    sim.takeParcel(parcel.compartment);
    sim.closeDoor(parcel.compartment);
    await this.waitState(courier, parcel.id, 'collected');
  }
}
