import { parseConfig } from '../../src/config/config.js';
import type { Logger } from '../../src/log.js';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.js';
import { TestReceiver, type ReceivedRequest } from './receiver.js';
import { TestRedis } from './redis.js';
import { parseApiJson } from './api-time.js';
import { eventually } from './stack.js';

/**
 * Sign-in tests: the real gateway (no simulators) with an injected clock for sessions and codes, a TestReceiver as
 * SMS provider, and a logger that keeps every line (at debug) so a test can prove what never reaches the logs.
 */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1, keyLen: 32 };

export type Res = { status: number; body: any; headers: Headers; cookies: string[] };

export function capturingLogger(lines: string[], base: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push(JSON.stringify({ level, msg, ...base, ...fields }, (_k, v) => (v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v)));
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (f) => capturingLogger(lines, { ...base, ...f }) };
}

export class SignInWorld {
  readonly redis = new TestRedis();
  readonly sms = new TestReceiver();
  readonly logs: string[] = [];
  /** added to the real time by the gateway's sign-in clock */
  offsetMs = 0;
  gw!: RunningGateway;
  private n = 0;

  constructor(private readonly env: Record<string, string> = {}) {}

  readonly now = () => Date.now() + this.offsetMs;

  async start(): Promise<this> {
    await this.redis.start();
    await this.sms.start();
    const config = parseConfig({
      NODE_ENV: 'test',
      PORT: '0',
      MQTT_PORT: '0',
      REDIS_URL: this.redis.url,
      SIMULATORS: 'off',
      LOG_LEVEL: 'debug',
      SMS_URL: `${this.sms.url}/sms`,
      SMS_RATE_PER_S: '200',
      QUIET_HOURS: 'off',
      NOTIFY_BACKOFF_MS: '50',
      TRUST_PROXY: 'on',
      ...this.env,
    });
    // cheap password hashes: the default parameters cost ~0.3–1.5 s per login on a loaded test machine
    this.gw = await startGateway(config, { logger: capturingLogger(this.logs), clock: { now: this.now }, scrypt: TEST_SCRYPT });
    return this;
  }

  async stop(): Promise<void> {
    await this.gw?.close();
    await this.sms.stop();
    await this.redis.destroy();
  }

  get url(): string {
    return this.gw.url;
  }

  /** The origin a browser on this site sends. */
  get origin(): string {
    return this.gw.url;
  }

  /** A fresh mainland mobile number. */
  phone(): string {
    return `137${String(process.pid % 10_000).padStart(4, '0')}${String(++this.n).padStart(4, '0')}`;
  }

  /** A fresh client address (X-Forwarded-For; TRUST_PROXY is on). */
  client(): Record<string, string> {
    const i = ++this.n;
    return { 'x-forwarded-for': `10.9.${(i >> 8) & 255}.${i & 255}` };
  }

  async request(method: string, path: string, opts: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    }
    const res = await fetch(this.url + path, { method, headers, redirect: 'manual', ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = parseApiJson(text); // times back to epoch ms
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers, cookies: res.headers.getSetCookie() };
  }

  /** The texts sent to a phone. */
  textsTo(phone: string): ReceivedRequest[] {
    return this.sms.accepted.filter((r) => (r.body as { to?: string })?.to === `+86${phone}`);
  }

  /** Waits for the `n`th text to `phone` and returns the one-time code in it. */
  async codeSentTo(phone: string, n = 1): Promise<string> {
    const sms = await eventually(() => this.textsTo(phone)[n - 1], 8000, `text ${n} to ${phone}`);
    return otpIn(sms);
  }
}

/** The 6-digit sign-in code in a text (zh or en). */
export function otpIn(sms: ReceivedRequest): string {
  const text = (sms.body as { text: string }).text;
  const m = /验证码 (\d{6})|sign-in code is (\d{6})/.exec(text);
  if (!m) throw new Error(`no sign-in code in: ${text}`);
  return (m[1] ?? m[2])!;
}

/** `name=value` of the first Set-Cookie (for a Cookie header). */
export const cookiePair = (setCookie: string) => setCookie.split(';')[0]!;
