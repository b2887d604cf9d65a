import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Claims } from '../../src/claims/index.js';
import { Counters } from '../../src/metrics.js';
import { ParcelStore } from '../../src/store/parcels.js';
import { ClaimsWorld, DUTY, H } from '../support/claims.js';
import { eventually } from '../support/stack.js';

const M = 60_000;

/**
 * The claims' clocks against the real gateway: an injected clock moved by the test, the sweep running on its timer
 * (CLAIM_SWEEP_MS 100) and, where a test must know a pass happened, run directly (it is idempotent). Alerts are read
 * where they arrive: the property webhook receiver and the SMS receiver (DUTY_PHONES).
 */
describe('claim clocks and alerts', () => {
  const w = new ClaimsWorld();
  let staff: Awaited<ReturnType<ClaimsWorld['member']>>;
  beforeAll(async () => {
    await w.start();
    staff = await w.member('staff');
  }, 60_000);
  afterAll(() => w.stop());

  const open = async (phone = w.phone()) => {
    const r = await w.request('POST', '/v1/admin/claims', { json: { phone, channel: 'phone', trackingNumber: w.tracking(), description: 'lost' }, headers: staff.auth });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  const act = async (id: string, action: string, json: unknown = {}) => {
    const r = await w.request('POST', `/v1/admin/claims/${id}/${action}`, { json, headers: staff.auth });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  const alertHooks = (id: string, key?: string) => w.hooksOf('claim-alert', id).filter((r) => key === undefined || (r.body as { id: string }).id === `${id}.${key}.property`);
  const alertTexts = (id: string, key: string) => w.sms.accepted.filter((r) => (r.body as { id: string }).id.startsWith(`${id}.${key}.duty-`));
  const alertEntries = async (id: string) => (await w.gw.claims.store.evidence(id)).filter((i) => i.entry.kind === 'claim-alert').map((i) => `r${i.entry.round}.${i.entry.clock}-${i.entry.stage}`);
  /** Both notices of a stage have arrived: the webhook and a text to every duty phone. */
  const alerted = (id: string, key: string) =>
    eventually(() => alertHooks(id, key).length === 1 && alertTexts(id, key).length === DUTY.length, 8000, `alert ${key} of ${id}`);

  /** Another gateway's claims (its own connection, evidence log and sweep) on the same Redis. */
  const otherGateway = () => {
    const redis = w.gw.redis.duplicate();
    const g = w.gw.claims.d;
    return { redis, claims: new Claims({ ...g, redis, parcels: new ParcelStore(redis, g.prefix), counters: new Counters(), sweepMs: 3_600_000 }) };
  };

  it('alerts each stage of each clock once, to the property and to every phone on duty, however many gateways sweep', async () => {
    const id = await open();
    w.clock.advance(95 * M);
    await w.gw.claims.sweep.run();
    expect(alertHooks(id)).toEqual([]); // 95 min of 120: not yet 80 %

    // three gateways sweep at the same moment the stage is reached: one alert
    const others = [otherGateway(), otherGateway()];
    await Promise.all(others.map((o) => o.redis.ping())); // connected, so the passes really run side by side
    await w.gw.claims.sweep.stop();
    try {
      w.clock.advance(1 * M);
      const passes = await Promise.all([w.gw.claims.sweep.run(), ...others.map((o) => o.claims.sweep.run())]);
      expect(passes.reduce((n, p) => n + p.alerts, 0)).toBe(1);
    } finally {
      w.gw.claims.sweep.start();
      for (const o of others) o.redis.disconnect();
    }
    await alerted(id, 'r0.ack-near');
    const hook = alertHooks(id, 'r0.ack-near')[0]!.body as any;
    expect(hook.params).toMatchObject({ clock: 'ack', stage: 'near', round: 0, state: 'open', elapsedMs: 96 * M });
    expect(alertTexts(id, 'r0.ack-near').map((r) => (r.body as any).to).sort()).toEqual(DUTY.map((p) => `+86${p}`));
    expect((alertTexts(id, 'r0.ack-near')[0]!.body as any).text).toMatch(/^【里厍社区快递柜】提醒：丢件申诉K\d{5}将于.*超过响应时限，请尽快处理。$/);

    // many more passes: nothing more for that stage
    await Promise.all(Array.from({ length: 5 }, () => w.gw.claims.sweep.run()));
    w.clock.advance(24 * M); // 120 min: past the limit
    await alerted(id, 'r0.ack-breached');
    await Promise.all(Array.from({ length: 5 }, () => w.gw.claims.sweep.run()));
    expect(await alertEntries(id)).toEqual(['r0.ack-near', 'r0.ack-breached']);
    expect(alertHooks(id).length).toBe(2);
    // counted where sent: the breach by this gateway (the 80 % alert went to whichever of the three won)
    expect(w.gw.counters.get('lg_claim_alerts_total', { clock: 'ack', stage: 'breached' })).toBe(1);
    await act(id, 'acknowledge'); // late, and the resolve clock goes on
  });

  it('never alerts for a stage a clock stopped short of, nor while the claim waits for the resident', async () => {
    const early = await open(); // acknowledged at 50 % of the ack clock
    const waiting = await open(); // acknowledged, then waiting for the resident from 2 h to 45 h
    const control = await open(); // left alone until it is late
    w.clock.advance(1 * H);
    await act(early, 'acknowledge');
    await act(waiting, 'acknowledge');
    w.clock.advance(1 * H);
    await act(waiting, 'ask', { question: '快递单号是多少？' });
    await alerted(control, 'r0.ack-breached');
    await w.gw.claims.sweep.run(); // one more full pass after the control's alert
    expect(await alertEntries(early)).toEqual([]);
    expect(await alertEntries(waiting)).toEqual([]);
    await act(control, 'acknowledge');

    w.clock.advance(43 * H); // 45 h: the running resolve clocks are past 80 % (38.4 h); the waiting one counted 2 h
    await alerted(control, 'r0.resolve-near');
    await alerted(early, 'r0.resolve-near');
    await w.gw.claims.sweep.run();
    expect(await alertEntries(waiting)).toEqual([]);
    expect(alertHooks(waiting)).toEqual([]);
    expect(await alertEntries(early)).toEqual(['r0.resolve-near']); // never the ack clock's

    // the answer starts the resolve clock again: 2 h counted so far, 80 % is 36.4 h of counting away
    const resident = await w.gw.claims.service.get(waiting);
    const phone = resident!.claim.phone;
    const me = await w.resident(phone);
    expect((await w.request('POST', `/v1/claims/${waiting}/answer`, { json: { text: 'SF123' }, headers: me })).status).toBe(200);
    const view = await w.request('GET', `/v1/admin/claims/${waiting}`, { headers: staff.auth });
    expect(view.body.clocks.resolve).toMatchObject({ elapsedMs: 2 * H, paused: false, stage: 'ok', nearAt: w.clock.now() + 36.4 * H });
    w.clock.advance(36.4 * H - 1);
    await w.gw.claims.sweep.run();
    expect(await alertEntries(waiting)).toEqual([]);
    w.clock.advance(1);
    await alerted(waiting, 'r0.resolve-near');
    expect(await alertEntries(waiting)).toEqual(['r0.resolve-near']);
  });

  it('starts a new round of alerts when the resident reopens', async () => {
    const id = await open();
    await act(id, 'acknowledge');
    await act(id, 'resolve', { outcome: 'found' });
    const phone = (await w.gw.claims.service.get(id))!.claim.phone;
    w.clock.advance(1 * H);
    expect((await w.request('POST', `/v1/claims/${id}/reopen`, { json: { reason: '不是我的包裹' }, headers: await w.resident(phone) })).status).toBe(200);
    w.clock.advance(96 * M);
    await alerted(id, 'r1.ack-near');
    expect(await alertEntries(id)).toEqual(['r1.ack-near']);
  });

  it('filters the staff list by clock stage', async () => {
    const phone = w.phone();
    const a = await open(phone); // acknowledged at once
    w.clock.advance(1 * M);
    await act(a, 'acknowledge');
    const b = await open(phone); // never acknowledged
    w.clock.advance(100 * M);
    const c = await open(phone); // opened 100 min after b
    w.clock.advance(20 * M);
    const ids = async (clock: string) => (await w.request('GET', `/v1/admin/claims?phone=${phone}&clock=${clock}`, { headers: staff.auth })).body.claims.map((x: any) => x.id);
    // b: 120 min unacknowledged (breached); c: 20 min (ok); a: acknowledged at 1 min, 2 h into 48 (ok)
    expect(await ids('ok')).toEqual([c, a]);
    expect(await ids('breached')).toEqual([b]);
    expect(await ids('near')).toEqual([]);
    w.clock.advance(80 * M); // c: 100 min, past 96
    expect(await ids('near')).toEqual([c]);
    const list = await w.request('GET', `/v1/admin/claims?phone=${phone}`, { headers: staff.auth });
    expect(list.body.claims.find((x: any) => x.id === c).clocks.ack).toMatchObject({ stage: 'near', elapsedMs: 100 * M, dueAt: w.clock.now() + 20 * M });
  });
});
