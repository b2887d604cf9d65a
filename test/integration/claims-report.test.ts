import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthRange } from '../../src/claims/figures.js';
import type { ClaimCommand } from '../../src/domain/claims.js';
import { residentActor } from '../../src/http/routes/claims-schemas.js';
import { localParts } from '../../src/notify/localtime.js';
import { ClaimsWorld, H, type Headers_ } from '../support/claims.js';
import { eventually } from '../support/stack.js';

const M = 60_000;
const DAY = 24 * H;
const TZ = 'Asia/Shanghai';

/** The month two months before the current one (local), so every seeded time lies in the past. */
function seededMonths(): { month: string; prev: string } {
  const p = localParts(Date.now(), TZ);
  const back = (n: number) => {
    const i = p.year * 12 + (p.month - 1) - n;
    return `${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')}`;
  };
  return { month: back(2), prev: back(3) };
}

/**
 * The monthly report on two months seeded through the real API at known times (the injected clock; the simulated
 * unit's device time follows it): claims with known clocks, outcomes and ratings, and parcels deposited, collected,
 * overdue and returned. Every figure is checked against the arithmetic done by hand in the comments.
 */
describe('monthly report', () => {
  const { month, prev } = seededMonths();
  const s = monthRange(month, TZ);
  const p = monthRange(prev, TZ);
  const w = new ClaimsWorld({ sim: true });
  let admin: Awaited<ReturnType<ClaimsWorld['member']>>;
  let courier: Headers_;
  beforeAll(async () => {
    w.clock.set(p.from + 12 * H);
    await w.start();
    admin = await w.member('admin');
    courier = await w.courier();
  }, 60_000);
  afterAll(() => w.stop());

  const claims: Record<string, { id: string; phone: string }> = {};
  const act = async (name: string, action: string, json: unknown = {}) => {
    const r = await w.request('POST', `/v1/admin/claims/${claims[name]!.id}/${action}`, { json, headers: admin.auth });
    expect(r.status, `${name} ${action}: ${r.text}`).toBe(200);
  };
  /** The resident's side through the claim service, as their routes call it (those are tested in claims-lifecycle): no sign-in per step. */
  const asResident = async (name: string, cmd: ClaimCommand) => {
    const c = claims[name]!;
    await w.gw.claims.service.act(c.id, cmd, residentActor(c.phone), c.phone);
  };
  const open = async (name: string) => {
    const phone = w.phone();
    const r = await w.request('POST', '/v1/admin/claims', { json: { phone, channel: 'visit', trackingNumber: w.tracking(), description: name }, headers: admin.auth });
    expect(r.status).toBe(201);
    claims[name] = { id: r.body.id, phone };
  };
  const parcels: Record<string, { parcel: any; code: string }> = {};

  // About 40 steps in sequence through the real API, MQTT and the simulator (five parcels, seven claims): ~10 s on
  // an idle machine, several times that when the whole suite shares two cores. Nothing in it sleeps; it is long.
  it('gives the month’s figures beside the previous month’s', { timeout: 90_000 }, async () => {
    const y = w.phone();
    // [time, what], run in time order
    const plan: [number, () => Promise<void>][] = [
      // ---- previous month ----
      [p.from + 1 * DAY, async () => void (parcels.A = await w.storeParcel(courier, w.phone()))],
      [p.from + 1 * DAY + 10 * H, () => open('P1')],
      [p.from + 1 * DAY + 10.5 * H, () => act('P1', 'acknowledge')], // ack 30 min
      [p.from + 1 * DAY + 20 * H, () => act('P1', 'resolve', { outcome: 'found' })], // resolve 10 h
      [p.from + 1 * DAY + 21 * H, () => asResident('P1', { action: 'rate', score: 5 })],
      [p.from + 2 * DAY, () => w.collect(courier, parcels.A!.parcel, parcels.A!.code)],
      [p.from + 2 * DAY + 1 * H, () => open('P2')],
      [p.from + 2 * DAY + 4 * H, () => act('P2', 'acknowledge')], // ack 3 h: late
      [p.from + 2 * DAY + 61 * H, () => act('P2', 'resolve', { outcome: 'rejected', reason: '监控显示本人取件' })], // 60 h: late
      // ---- the month ----
      [s.from, () => open('M1')], // its first instant belongs to it
      [s.from + 20 * M, () => act('M1', 'acknowledge')], // ack 20 min
      [s.from + 1 * H, () => act('M1', 'investigate')],
      [s.from + 5 * H, () => act('M1', 'resolve', { outcome: 'compensated', reason: '赔偿30元' })], // resolve 5 h
      [s.from + 6 * H, () => asResident('M1', { action: 'rate', score: 4 })],
      [s.from + 1 * DAY, async () => void (parcels.B = await w.storeParcel(courier, y))],
      [s.from + 1 * DAY + 1 * M, async () => void (parcels.C = await w.storeParcel(courier, y, { noCode: true }))],
      [s.from + 1 * DAY + 2 * M, async () => void (parcels.D = await w.storeParcel(courier, y, { noCode: true }))],
      [s.from + 1 * DAY + 2 * H, () => w.collect(courier, parcels.B!.parcel, parcels.B!.code)],
      [s.from + 2 * DAY, () => open('M2')],
      [s.from + 2 * DAY + 1 * H, () => act('M2', 'acknowledge')], // ack 1 h
      [s.from + 2 * DAY + 2 * H, () => act('M2', 'ask', { question: '几号楼？' })], // 2 h counted
      [s.from + 2 * DAY + 32 * H, () => asResident('M2', { action: 'answer', text: '3号楼' })], // 30 h waiting: not counted
      [s.from + 2 * DAY + 35 * H, () => act('M2', 'resolve', { outcome: 'other', reason: '快递公司处理' })], // +3 h: 5 h
      [s.from + 2 * DAY + 36 * H, () => asResident('M2', { action: 'rate', score: 2 })],
      [s.from + 2 * DAY + 40 * H, () => asResident('M2', { action: 'reopen', reason: '还没解决' })],
      [s.from + 2 * DAY + 41 * H, () => act('M2', 'acknowledge')],
      [s.from + 2 * DAY + 42 * H, () => act('M2', 'resolve', { outcome: 'found' })], // the latest outcome counts
      [s.from + 3 * DAY, () => open('M3')],
      [s.from + 3 * DAY + 3 * H, () => act('M3', 'acknowledge')], // ack 3 h: late
      [s.from + 3 * DAY + 50 * H, () => act('M3', 'resolve', { outcome: 'wrong_person' })], // 50 h: late
      // C and D stored at s+1d(+1, +2 min): due 72 h later, still inside then: overdue
      [s.from + 4 * DAY + 5 * M, () => Promise.all(['C', 'D'].map((n) => w.waitState(courier, parcels[n]!.parcel.id, 'expired'))).then(() => undefined)],
      [s.from + 5 * DAY, () => returnParcel(parcels.C!.parcel)],
      [s.from + 6 * DAY, () => open('M4')],
      [s.from + 6 * DAY + 10 * M, () => act('M4', 'acknowledge')], // ack 10 min; resolve clock inside its 48 h at the report
      [s.from + 6 * DAY + 20 * M, () => act('M4', 'investigate')],
      [s.from + 6 * DAY + 12 * H, () => open('M5')], // never acknowledged: 12 h at the report, ack clock run out
    ];
    for (const [at, step] of plan.sort((a, b) => a[0] - b[0])) {
      w.clock.set(at);
      await step();
    }

    w.clock.set(s.from + 7 * DAY);
    const r = await w.request('GET', `/v1/admin/reports/monthly?month=${month}`, { headers: admin.auth });
    expect(r.status).toBe(200);
    const f = (value: number | null, previous: number | null, change: number | null) => ({ value, previous, change });
    expect(r.body).toMatchObject({ month, previousMonth: prev, timeZone: TZ, from: s.from, to: s.to, asOf: s.from + 7 * DAY });
    expect(r.body.claims).toEqual({
      opened: f(5, 2, 3),
      byOutcome: {
        found: f(1, 1, 0),
        wrong_person: f(1, 0, 1),
        compensated: f(1, 0, 1),
        rejected: f(0, 1, -1),
        other: f(0, 0, 0),
        unresolved: f(2, 0, 2), // M4, M5
      },
      // acks: M 10, 20, 60, 180 min; previous 30, 180 min
      timeToAcknowledgeMs: { median: f(40 * M, 105 * M, -65 * M), p90: f(180 * M, 180 * M, 0) },
      // resolutions (first round, clock time): M 5 h, 5 h, 50 h; previous 10 h, 60 h
      timeToResolveMs: { median: f(5 * H, 35 * H, -30 * H), p90: f(50 * H, 60 * H, -10 * H) },
      withinAckClock: f(0.6, 0.5, 0.1), // M1, M2, M4 of five (M3 late, M5 run out)
      withinResolveClock: f(0.6667, 0.5, 0.1667), // M1, M2 of three decided (M4, M5 still inside)
      resolutionRate: f(0.6, 1, -0.4),
      averageRating: f(3, 5, -2),
      ratings: f(2, 1, 1),
      reopened: f(1, 0, 1),
    });
    expect(r.body.lockers).toEqual({
      deposits: f(3, 1, 2),
      collections: f(1, 1, 0),
      overdue: f(2, 0, 2),
      returns: f(1, 0, 1),
    });
    expect(Object.keys(r.body.definitions)).toEqual(expect.arrayContaining(['timeToResolveMs', 'withinAckClock', 'lockers']));

    // a claim at the first instant of the next month is not this month's
    w.clock.set(s.to);
    await open('N1');
    const after = await w.request('GET', `/v1/admin/reports/monthly?month=${month}`, { headers: admin.auth });
    expect(after.body.claims.opened.value).toBe(5);
    const next = await w.request('GET', `/v1/admin/reports/monthly?month=${monthAfter(month)}`, { headers: admin.auth });
    expect(next.body.claims.opened).toEqual(f(1, 5, -4));
  });

  async function returnParcel(parcel: { id: string; compartment: number }): Promise<void> {
    const r = await w.request('POST', '/v1/returns', { json: { parcelId: parcel.id }, headers: courier });
    expect(r.status, r.text).toBe(200);
    const sim = w.sim!;
    await eventually(() => sim.snapshot().doors[parcel.compartment]?.open, 8000, 'door open for the return');
    sim.takeParcel(parcel.compartment);
    sim.closeDoor(parcel.compartment);
    await w.waitState(courier, parcel.id, 'returned');
  }
});

function monthAfter(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}
