import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/notify/notifier.js';
import { eventually } from '../support/stack.js';
import {
  COMPACT_V2,
  JSON_V1,
  PROPERTY_SECRET,
  ParcelWorld,
  STAFF,
  shanghaiHm,
  signatureOk,
  smsText,
  type TestCourier,
} from '../support/parcels.js';

const REMINDER_H = 0.0005; // 1.8 s
const REMINDER_MS = REMINDER_H * 3600_000;
// A quiet window around the current Asia/Shanghai time (it may cross midnight).
const QUIET = `${shanghaiHm(-60)}-${shanghaiHm(120)}`;

/**
 * Notifications during quiet hours, with an SMS provider that fails: what is not quiet goes out at once and is
 * retried until delivered once; what the provider refuses is listed for staff; quiet reminders wait for the morning.
 */
describe('parcels: notifications (quiet hours now, failing SMS provider, signed webhooks)', () => {
  const world = new ParcelWorld({ QUIET_HOURS: QUIET, REMINDER_HOURS: String(REMINDER_H) }, [{ id: JSON_V1 }, { id: COMPACT_V2 }]);
  let courier: TestCourier;
  const codes: string[] = [];
  let quietParcel: { id: string; storedAt: number } | null = null;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
  });
  afterAll(() => world.stop());

  const smsQueue = (): Queue => world.stack.gw!.notifier.queues().find((q) => q.name === QUEUE_NAMES.sms)!;
  const reminderJob = (parcelId: string) => `${parcelId}.reminder-${REMINDER_H}h.sms`;
  // a reminder held more than a minute waits in the notifier's later-store, not in BullMQ (src/notify/later.ts)
  const heldReminder = async (parcelId: string) => (await world.stack.gw!.notifier.later.list(1000)).find((e) => e.jobId === reminderJob(parcelId));

  it('inside quiet hours the stored SMS goes out at once; the reminder is held until the quiet hours end', async () => {
    const phone = world.phone();
    const { parcel, code, sms } = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone });
    codes.push(code);
    quietParcel = { id: parcel.id, storedAt: parcel.storedAt };
    expect(sms.at - parcel.storedAt).toBeLessThan(REMINDER_MS + 5000);

    const held = await eventually(() => heldReminder(parcel.id), 5000, 'reminder held');
    expect(await smsQueue().getJobState(reminderJob(parcel.id))).toBe('unknown');
    // Due 1.8 s after storing, but held to the end of the quiet window: at least an hour from now.
    expect(held.dueAt).toBeGreaterThan(Date.now() + 3600_000);
    expect(held.score).toBe(held.dueAt);
    expect(held.data.notice.params).not.toHaveProperty('code');
  });

  it('the SMS provider answers 500 twice, then 200: delivered exactly once, with one idempotency key', async () => {
    const phone = world.phone();
    world.sms.failNext(2, 500);
    const { parcel, code } = await world.storeParcel(courier, { unit: COMPACT_V2, size: 'S', phone });
    codes.push(code);
    const tries = world.smsTries(`${parcel.id}.stored`);
    expect(tries.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(tries.map((r) => r.headers['idempotency-key']))).toEqual(new Set([`${parcel.id}.stored.sms`]));
    await eventually(async () => (await smsQueue().getJobState(`${parcel.id}.stored.sms`)) === 'completed', 5000, 'job completed');
    expect(world.smsTries(`${parcel.id}.stored`)).toHaveLength(3);
    expect(world.smsTo(phone)).toHaveLength(1);

    await world.collectAtKeypad(COMPACT_V2, code, parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
    await world.smsFor(`${parcel.id}.collected`);
  });

  it('the SMS provider answers 400: not retried, listed by GET /v1/admin/notifications/failures with a masked phone', async () => {
    const phone = world.phone();
    world.sms.failAlways(400);
    try {
      const dep = await world.deposit(courier, { unit: COMPACT_V2, size: 'S', phone });
      expect(dep.status).toBe(201);
      const no = dep.body.compartment as number;
      await world.doorOpen(COMPACT_V2, no);
      const sim = world.sim(COMPACT_V2);
      sim.putParcel(no);
      sim.closeDoor(no);
      await world.waitState(courier, dep.body.id, 'stored');

      const failure = await eventually(
        async () => {
          const r = await world.request('GET', '/v1/admin/notifications/failures', undefined, STAFF);
          expect(r.status).toBe(200);
          return (r.body.failures as { noticeId: string }[]).find((f) => f.noticeId === `${dep.body.id}.stored`);
        },
        8000,
        'failure listed',
      );
      expect(failure).toMatchObject({
        channel: 'sms',
        kind: 'stored',
        jobId: `${dep.body.id}.stored.sms`,
        to: `${phone.slice(0, 3)}****${phone.slice(-4)}`,
        attempts: 1,
        reason: expect.stringContaining('HTTP 400'),
      });
      expect(world.smsTries(`${dep.body.id}.stored`)).toHaveLength(1);
      const all = await world.request('GET', '/v1/admin/notifications/failures', undefined, STAFF);
      expect(JSON.stringify(all.body)).not.toContain(phone);
      expect((await world.request('GET', '/v1/admin/notifications/failures')).status).toBe(401);

      // Clean up: staff open the compartment for the resident (no code reached them), who takes the parcel.
      world.sms.failAlways(null);
      const open = await world.request('POST', `/v1/units/${COMPACT_V2}/commands`, { op: 'open', compartment: no }, STAFF);
      expect(open.body).toMatchObject({ result: 'done' });
      await world.doorOpen(COMPACT_V2, no);
      sim.takeParcel(no);
      sim.closeDoor(no);
      // Emptied without a pickup: the parcel is reported missing to the property.
      await world.waitState(courier, dep.body.id, 'missing');
      await world.hook('/hook', 'missing', dep.body.id);
    } finally {
      world.sms.failAlways(null);
    }
  });

  it('webhooks carry a valid X-Locker-Signature and never the pickup code', async () => {
    await world.hook('/hook', 'stored', quietParcel!.id);
    await world.hook('/hook', 'collected');
    const hooks = world.hooks.accepted;
    expect(hooks.length).toBeGreaterThanOrEqual(4);
    for (const h of hooks) {
      expect(h.path).toBe('/hook');
      expect(signatureOk(h, PROPERTY_SECRET), h.raw).toBe(true);
      expect(signatureOk(h, 'some-other-secret-of-16+'), h.raw).toBe(false);
      const body = h.body as { params: Record<string, unknown> };
      expect(body.params).not.toHaveProperty('code');
      for (const code of codes) expect(h.raw).not.toContain(`"${code}"`);
    }
    // The resident's own SMS did carry it.
    for (const code of codes) expect(world.sms.accepted.some((r) => smsText(r).includes(code))).toBe(true);
  });

  it('the held reminder does not arrive after it came due', async () => {
    const p = quietParcel!;
    // Bounded wait: until the reminder's due time has passed by a margin (usually already true by now).
    await eventually(() => Date.now() > p.storedAt + REMINDER_MS + 1500, REMINDER_MS + 5000, 'reminder due time passed');
    expect(world.smsTries(`${p.id}.reminder-${REMINDER_H}h`)).toEqual([]);
    expect(await heldReminder(p.id)).toBeDefined();
    expect(await smsQueue().getJobState(reminderJob(p.id))).toBe('unknown');
  });
});
