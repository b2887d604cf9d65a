import { UNITS } from '../../devices/units.js';
import type { SimulatedUnit, Faults } from '../../simulators/index.js';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import type { Size } from '../../src/domain/model.js';
import { presenceCode } from '../../src/domain/presence.js';
import { verifySignature } from '../../src/notify/signature.js';
import { TestReceiver, type ReceivedRequest } from './receiver.js';
import { parseApiJson } from './api-time.js';
import { Stack, credentials, eventually } from './stack.js';


/**
 * Parcel end-to-end tests: the real gateway (Stack) with a TestReceiver as SMS provider and one as the property's
 * and couriers' webhook endpoint, the three simulators without autopilot (the test is the courier and the resident),
 * and small helpers that speak the public HTTP API only.
 */
export const [JSON_V1, COMPACT_V2, FRAME_485] = UNITS.map((u) => u.id) as [string, string, string];
export const STAFF = { authorization: `Bearer ${DEV_STAFF_TOKEN}` };
export const PROPERTY_SECRET = 'property-webhook-secret-for-tests';
export const COURIER_SECRET = 'courier-webhook-secret-for-tests';
export const HOUR = 3600_000;
const CODE_KEY = Buffer.from(credentials.gateway.codeKeyHex ?? '', 'hex');

export type Res = { status: number; body: any; headers: Headers };

export interface TestCourier {
  id: string;
  token: string;
  auth: Record<string, string>;
}

export interface DepositBody {
  unit?: string;
  size: Size;
  phone: string;
  trackingNumber?: string;
  carrier?: string;
  name?: string;
  shareCompartment?: boolean;
}

/** The presence code on the unit's screen now. */
export function presenceNow(unit: string): string {
  return presenceCode(CODE_KEY, unit, Date.now());
}

/** A 4-digit code the gateway does not accept at this unit in the current minutes. */
export function wrongPresence(unit: string): string {
  const now = Date.now();
  const valid = new Set([-60_000, 0, 60_000].map((d) => presenceCode(CODE_KEY, unit, now + d)));
  for (let i = 0; ; i++) {
    const c = String(i).padStart(4, '0');
    if (!valid.has(c)) return c;
  }
}

/** The 6-digit pickup code in a stored SMS (zh or en). */
export function codeIn(sms: ReceivedRequest): string {
  const text = smsText(sms);
  const m = /取件码 (\d{6})|Pickup code: (\d{6})/.exec(text);
  if (!m) throw new Error(`no pickup code in SMS: ${text}`);
  return (m[1] ?? m[2])!;
}

export function smsText(r: ReceivedRequest): string {
  return (r.body as { text: string }).text;
}

/** Local wall clock in Asia/Shanghai, `HH:MM`, `offsetMin` from now. */
export function shanghaiHm(offsetMin: number): string {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(
    new Date(Date.now() + offsetMin * 60_000),
  );
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  return `${get('hour')}:${get('minute')}`;
}

/** Whether Redis stream id `a` comes after `b` (`<ms>-<seq>`). */
export function streamAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am > bm || (am === bm && as > bs);
}

export function signatureOk(r: ReceivedRequest, secret: string): boolean {
  const header = r.headers['x-locker-signature'];
  return verifySignature(typeof header === 'string' ? header : undefined, r.raw, secret).ok;
}

export class ParcelWorld {
  readonly sms = new TestReceiver();
  readonly hooks = new TestReceiver();
  stack!: Stack;
  private n = 0;
  private readonly tag = `${process.pid % 1000}${Date.now().toString(36).slice(-4)}`.toUpperCase();

  constructor(
    private readonly env: Record<string, string> = {},
    private readonly units: { id: string; faults?: Partial<Faults> }[] = UNITS.map((u) => ({ id: u.id })),
  ) {}

  async start(): Promise<this> {
    await this.sms.start();
    await this.hooks.start();
    this.stack = new Stack('embedded', {
      SMS_URL: `${this.sms.url}/sms`,
      SMS_RATE_PER_S: '200',
      PROPERTY_WEBHOOK_URL: `${this.hooks.url}/hook`,
      PROPERTY_WEBHOOK_SECRET: PROPERTY_SECRET,
      WEBHOOK_RATE_PER_S: '200',
      QUIET_HOURS: 'off',
      NOTIFY_BACKOFF_MS: '50',
      SWEEP_MS: '100',
      // Each test scenario speaks from its own client address (X-Forwarded-For), so per-address limits of one
      // scenario do not leak into the next.
      TRUST_PROXY: 'on',
      ...this.env,
    });
    await this.stack.start();
    // Units heartbeat well within the gateway's timeout, as real ones do (30 s against 90 s; here 600 ms against 2 s),
    // so a unit that has been quiet for a moment is still online.
    for (const u of this.units) await this.stack.sim(u.id, { heartbeatMs: 600, ...(u.faults ? { faults: u.faults } : {}) });
    for (const u of this.units) {
      await eventually(async () => (await this.stack.get(`/v1/units/${u.id}`)).body.online === true, 10_000, `${u.id} online`);
    }
    return this;
  }

  async stop(): Promise<void> {
    await this.stack?.stop();
    await this.sms.stop();
    await this.hooks.stop();
  }

  sim(unit: string): SimulatedUnit {
    const s = this.stack.sims.find((x) => x.unit.id === unit);
    if (!s) throw new Error(`no simulator for ${unit}`);
    return s;
  }

  /** A fresh mainland mobile number. */
  phone(): string {
    return `139${String(Date.now() % 10_000).padStart(4, '0')}${String(++this.n).padStart(4, '0')}`;
  }

  tracking(): string {
    return `T${this.tag}${String(++this.n).padStart(5, '0')}`;
  }

  /** A fresh client address for X-Forwarded-For. */
  client(): Record<string, string> {
    const i = ++this.n;
    return { 'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` };
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
    const res = await fetch(this.stack.gw!.url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = parseApiJson(text); // times back to epoch ms
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  async courier(opts: { carrier?: string; webhook?: boolean } = {}): Promise<TestCourier> {
    const r = await this.request(
      'POST',
      '/v1/admin/couriers',
      {
        name: `Courier ${++this.n}`,
        carrier: opts.carrier ?? 'SF',
        ...(opts.webhook ? { webhookUrl: `${this.hooks.url}/courier`, webhookSecret: COURIER_SECRET } : {}),
      },
      STAFF,
    );
    if (r.status !== 201) throw new Error(`courier not issued: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.courier.id, token: r.body.token, auth: { authorization: `Bearer ${r.body.token}` } };
  }

  async prefs(phone: string, change: Record<string, unknown>): Promise<void> {
    const r = await this.request('PUT', `/v1/admin/residents/${phone}/preferences`, change, STAFF);
    if (r.status !== 200) throw new Error(`preferences not saved: ${r.status} ${JSON.stringify(r.body)}`);
  }

  deposit(c: TestCourier, body: DepositBody): Promise<Res> {
    return this.request('POST', '/v1/deposits', { carrier: 'SF', trackingNumber: this.tracking(), ...body }, c.auth);
  }

  async parcel(c: TestCourier, id: string): Promise<any> {
    const r = await this.request('GET', `/v1/deposits/${id}`, undefined, c.auth);
    if (r.status !== 200) throw new Error(`GET deposit ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async waitState(c: TestCourier, id: string, state: string, ms = 8000): Promise<any> {
    let last: any;
    await eventually(async () => (last = await this.parcel(c, id)).state === state, ms, `parcel ${id} ${state}`).catch((err: Error) => {
      throw new Error(`${err.message} (last: ${last?.state} ${last?.reason})`);
    });
    return last;
  }

  async doorOpen(unit: string, no: number): Promise<void> {
    const sim = this.sim(unit);
    await eventually(() => sim.snapshot().doors[no]?.open, 8000, `${unit} door ${no} open`);
  }

  /** Deposit, put the parcel in, close: returns the stored parcel and the code from the resident's SMS. */
  async storeParcel(c: TestCourier, body: DepositBody & { unit: string }): Promise<{ parcel: any; code: string; sms: ReceivedRequest }> {
    const r = await this.deposit(c, body);
    if (r.status !== 201) throw new Error(`deposit refused: ${r.status} ${JSON.stringify(r.body)}`);
    const no = r.body.compartment as number;
    await this.doorOpen(body.unit, no);
    const sim = this.sim(body.unit);
    sim.putParcel(no);
    sim.closeDoor(no);
    const parcel = await this.waitState(c, r.body.id, 'stored');
    const sms = await this.smsFor(`${parcel.id}.stored`);
    return { parcel, code: codeIn(sms), sms };
  }

  /** Waits for the (accepted) SMS of a notice id such as `p_….stored`. */
  async smsFor(noticeId: string, ms = 8000): Promise<ReceivedRequest> {
    return eventually(() => this.sms.accepted.find((r) => (r.body as { id?: string })?.id === `${noticeId}.sms`), ms, `SMS ${noticeId}`);
  }

  /** Every SMS request (any status) of a notice id. */
  smsTries(noticeId: string): ReceivedRequest[] {
    return this.sms.requests.filter((r) => (r.body as { id?: string })?.id === `${noticeId}.sms`);
  }

  smsTo(phone: string): ReceivedRequest[] {
    return this.sms.accepted.filter((r) => (r.body as { to?: string })?.to === `+86${phone}`);
  }

  hooksOf(path: string, kind: string, parcelId?: string): ReceivedRequest[] {
    return this.hooks.accepted.filter((r) => {
      const b = r.body as { kind?: string; parcelId?: string | null };
      return r.path === path && b?.kind === kind && (parcelId === undefined || b.parcelId === parcelId);
    });
  }

  async hook(path: string, kind: string, parcelId?: string, ms = 8000): Promise<ReceivedRequest> {
    return eventually(() => this.hooksOf(path, kind, parcelId)[0], ms, `webhook ${path} ${kind} ${parcelId ?? ''}`);
  }

  /** The resident types the code, the door opens, they take the parcel and close the door. */
  async collectAtKeypad(unit: string, code: string, no: number): Promise<void> {
    const sim = this.sim(unit);
    sim.typeCode(code);
    await this.doorOpen(unit, no);
    sim.takeParcel(no);
    sim.closeDoor(no);
  }

  /** Parcel transitions of one parcel in the unit's event log, oldest first. */
  async transitions(unit: string, parcelId: string): Promise<string[]> {
    const r = await this.request('GET', `/v1/units/${unit}/events?limit=500`, undefined, STAFF);
    return (r.body.events as { event: { kind: string; parcel?: string; from: string; to: string } }[])
      .filter((e) => e.event.kind === 'parcel' && e.event.parcel === parcelId)
      .map((e) => `${e.event.from}>${e.event.to}`)
      .reverse();
  }

  async unitState(unit: string): Promise<any> {
    return (await this.request('GET', `/v1/units/${unit}`)).body;
  }
}
