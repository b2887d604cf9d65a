import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { ParcelWorld, type TestCourier } from '../support/parcels.js';
import { Stack } from '../support/stack.js';

const TOKEN = 'metrics-token-of-this-test-0123';
const JSON_V1 = 'LSN-0001';

/** One sample's value from Prometheus text, or undefined when the line is missing. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics (METRICS_TOKEN)', () => {
  const world = new ParcelWorld({ METRICS_TOKEN: TOKEN });
  let courier: TestCourier;
  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
  });
  afterAll(() => world.stop());

  const scrape = (auth?: string) => fetch(world.stack.gw!.metricsUrl, auth ? { headers: { authorization: auth } } : {});

  it('refuses without its token, or with another one, in the one error envelope', async () => {
    for (const auth of [undefined, 'Bearer wrong-token-of-the-same-size', 'Bearer dev-staff-token-not-for-production']) {
      const res = await scrape(auth);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized', message: expect.stringContaining('METRICS_TOKEN') } });
    }
  });

  it('exposes counters and gauges with HELP and TYPE; gauges are read from Redis at each scrape', async () => {
    const dep = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone: world.phone() });
    expect(dep.status).toBe(201);
    await world.stack.gw!.redis.xadd(`${world.stack.config.REDIS_PREFIX}deadletter`, '*', 'reason', 'test');

    const res = await scrape(`Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();

    // counters: declared once with their help text, so they show (at 0) before anything happened
    expect(text).toContain('# HELP lg_malformed_total MQTT payloads that could not be decoded');
    expect(text).toContain('# TYPE lg_malformed_total counter');
    expect(sample(text, `lg_commands_total{unit="${JSON_V1}",op="open",result="done"}`)).toBeGreaterThanOrEqual(1);

    for (const g of ['lg_unit_online', 'lg_units_online', 'lg_compartments', 'lg_parcels', 'lg_outbox_entries', 'lg_notify_jobs', 'lg_notify_later', 'lg_engine_pending', 'lg_deadletters']) {
      expect(text).toContain(`# TYPE ${g} gauge`);
    }
    expect(sample(text, 'lg_units_online')).toBe(3);
    for (const u of UNITS) expect(sample(text, `lg_unit_online{unit="${u.id}",dialect="${u.dialect}"}`)).toBe(1);
    const comps = UNITS.find((u) => u.id === JSON_V1)!.compartments.length;
    const states = ['empty', 'occupied', 'open', 'fault', 'out_of_service'].map((s) => sample(text, `lg_compartments{unit="${JSON_V1}",state="${s}"}`) ?? NaN);
    expect(states.reduce((a, b) => a + b, 0)).toBe(comps);
    const live = ['reserved', 'depositing'].map((s) => sample(text, `lg_parcels{state="${s}"}`) ?? 0);
    expect(live[0]! + live[1]!).toBe(1); // the parcel just deposited holds its compartment
    expect(sample(text, 'lg_outbox_entries')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'lg_notify_jobs{queue="notify-sms",state="waiting"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'lg_notify_later')).toBeGreaterThanOrEqual(0);
    for (const u of UNITS) expect(sample(text, `lg_engine_pending{unit="${u.id}"}`)).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'lg_deadletters')).toBe(1);
  });
});

describe('GET /metrics on a listener of its own (METRICS_PORT)', () => {
  const stack = new Stack('embedded', { METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('is served there (with the token) and not on PORT', async () => {
    const url = stack.gw!.metricsUrl;
    expect(new URL(url).port).not.toBe(new URL(stack.gw!.url).port);
    expect((await fetch(`${stack.gw!.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect((await fetch(url)).status).toBe(401);
    const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE lg_units_online gauge');
  });
});
