import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { LATER_LEASE_MS, laterKeys } from '../../src/notify/later.js';
import { type Notifier, QUEUE_NAMES } from '../../src/notify/notifier.js';
import type { Notice, NotifyConfig } from '../../src/notify/types.js';
import { notifyTestbed } from '../support/notify.js';

/**
 * The later-store (src/notify/later.ts): notices due far ahead wait there, not in BullMQ, and the pump (moveDue)
 * moves them into their queue when due. The producing notifiers run on a fake clock and never start workers (their
 * pump is driven by hand); a separate worker notifier on the real clock sends (its own pump finds nothing due: the
 * fake times are hours ahead of it).
 */
const FILE_PREFIX = `tnl${process.pid}${Date.now().toString(36)}`;
const HOUR = 3600_000;
const sh = (local: string) => Date.parse(`${local}+08:00`);

const bed = notifyTestbed();
const { receiver } = bed;
let seq = 0;

function notifier(prefix: string, now?: () => number, over: Partial<NotifyConfig> = {}): Notifier {
  return bed.notifier(prefix, over, now ? { now } : {});
}

/** A prefix, a producer on a fake clock (`clock.t`), and (with `send`) a worker notifier on the real one. */
function setUp(opts: { send?: boolean; t0?: number; over?: Partial<NotifyConfig> } = {}) {
  const prefix = `${FILE_PREFIX}-${++seq}`;
  const clock = { t: opts.t0 ?? Date.now() };
  const n = notifier(prefix, () => clock.t, opts.over);
  if (opts.send) notifier(prefix).startWorkers();
  return { prefix, clock, n };
}

const smsQueue = (n: Notifier): Queue => n.queues().find((q) => q.name === QUEUE_NAMES.sms)!;
const sentIds = () => receiver.requests.filter((r) => r.path === '/sms' && r.status === 200).map((r) => (r.body as { id: string }).id);

const params = { carrier: 'SF', tracking: 'SF1234561234', siteZh: '里厍二村北区', siteEn: 'Lishe', compartment: 3, deadline: sh('2030-12-01T18:00:00') };
function reminder(parcelId: string, sendAt: number, over: Partial<Notice> = {}): Notice {
  return {
    id: `${parcelId}.reminder-24h`,
    kind: 'reminder',
    parcelId,
    to: { sms: '13812345678', lang: 'zh' },
    params,
    quiet: true,
    sendAt,
    ...over,
  };
}
const marker = (id: string): Notice => ({ id: `${id}.stored`, kind: 'stored', to: { sms: '13812345678', lang: 'zh' }, params: { ...params, code: '123456' } });

/** The texts sent once the queue is empty again, a marker's text included (then a job still to come would show). */
async function sentBefore(n: Notifier, id: string): Promise<string[]> {
  await n.enqueue(marker(id));
  const q = smsQueue(n);
  const deadline = Date.now() + 5000;
  for (;;) {
    const counts = await q.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    if (sentIds().includes(`${id}.stored.sms`) && Object.values(counts).every((c) => c === 0)) break;
    if (Date.now() > deadline) throw new Error(`marker ${id} not sent, or jobs left: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return sentIds().filter((x) => x !== `${id}.stored.sms`);
}

describe('notifier later-store: far-ahead notices wait outside BullMQ', () => {
  it('keeps a reminder due hours ahead in the later-store, under the prefix, not in BullMQ; a near one goes to BullMQ', async () => {
    const { prefix, clock, n } = setUp();
    await n.enqueue(reminder('L1', clock.t + 24 * HOUR));
    await n.enqueue(reminder('L2', clock.t + 30_000));
    expect(await smsQueue(n).getJobState('L1.reminder-24h.sms')).toBe('unknown');
    expect(await smsQueue(n).getJobState('L2.reminder-24h.sms')).toBe('delayed');
    const keys = laterKeys(prefix);
    expect(keys.due.startsWith(`${prefix}:`) && keys.jobs.startsWith(`${prefix}:`)).toBe(true);
    expect(await bed.admin.zrange(keys.due, 0, -1, 'WITHSCORES')).toEqual(['L1.reminder-24h.sms', String(clock.t + 24 * HOUR)]);
    expect(await bed.admin.hkeys(keys.jobs)).toEqual(['L1.reminder-24h.sms']);
    const [e] = await n.later.list();
    expect(e).toMatchObject({ jobId: 'L1.reminder-24h.sms', name: 'reminder', dueAt: clock.t + 24 * HOUR, data: { channel: 'sms', route: 'sms' } });
    expect(await n.later.count()).toBe(1);
    // enqueued again (a relay replay), even with another time: left as it is, as BullMQ leaves a job whose id exists
    await n.enqueue(reminder('L1', clock.t + 25 * HOUR));
    expect(await bed.admin.zscore(keys.due, 'L1.reminder-24h.sms')).toBe(String(clock.t + 24 * HOUR));
    // nothing due yet
    expect(await n.moveDue()).toBe(0);
  });

  it('moves a reminder into its queue when due (fake clock) and it is sent once', async () => {
    const { clock, n } = setUp({ send: true });
    const due = clock.t + 24 * HOUR;
    await n.enqueue(reminder('M1', due));
    clock.t = due - 2000;
    expect(await n.moveDue()).toBe(0);
    clock.t = due - 400; // within pollMs: moved now, with the rest of its wait as its delay
    expect(await n.moveDue()).toBe(1);
    expect(await n.later.count()).toBe(0);
    const job = await smsQueue(n).getJob('M1.reminder-24h.sms');
    expect(job!.delay).toBe(400);
    expect(job!.data.notice.id).toBe('M1.reminder-24h');
    expect(await n.moveDue()).toBe(0);
    expect(await sentBefore(n, 'M1-marker')).toEqual(['M1.reminder-24h.sms']);
  });

  it('holds a quiet notice overnight in the later-store and moves it at 08:00', async () => {
    const { clock, n } = setUp({ t0: sh('2030-11-26T23:00:00'), over: { quietHours: { start: '22:00', end: '08:00' } } });
    await n.enqueue(reminder('M2', sh('2030-11-26T23:30:00')));
    expect((await n.later.list())[0]).toMatchObject({ jobId: 'M2.reminder-24h.sms', dueAt: sh('2030-11-27T08:00:00') });
    clock.t = sh('2030-11-26T23:30:00');
    expect(await n.moveDue()).toBe(0);
    clock.t = sh('2030-11-27T08:00:00');
    expect(await n.moveDue()).toBe(1);
    expect(await smsQueue(n).getJobState('M2.reminder-24h.sms')).toBe('waiting');
  });

  it('a cancel before it is due removes it from the later-store: never moved, never sent', async () => {
    const { clock, n } = setUp({ send: true });
    const due = clock.t + 24 * HOUR;
    await n.enqueue(reminder('C1', due));
    await n.cancel(['C1.reminder-24h', 'C1.overdue.1']);
    expect(await n.later.count()).toBe(0);
    expect(await bed.admin.hlen(laterKeys(n.config.prefix).jobs)).toBe(0);
    clock.t = due + 1000;
    expect(await n.moveDue()).toBe(0);
    expect(await sentBefore(n, 'C1-marker')).toEqual([]);
  });

  it('a cancel after the pump moved it removes the BullMQ job', async () => {
    const { clock, n } = setUp(); // no workers: the moved job stays waiting
    const due = clock.t + 24 * HOUR;
    await n.enqueue(reminder('C2', due));
    clock.t = due;
    expect(await n.moveDue()).toBe(1);
    expect(await smsQueue(n).getJobState('C2.reminder-24h.sms')).toBe('waiting');
    await n.cancel(['C2.reminder-24h']);
    expect(await smsQueue(n).getJobState('C2.reminder-24h.sms')).toBe('unknown');
  });

  it('cancel, then enqueue with a new time, reschedules it', async () => {
    const { clock, n } = setUp({ send: true });
    const first = clock.t + 24 * HOUR;
    const second = clock.t + 48 * HOUR;
    await n.enqueue(reminder('R1', first));
    await n.cancel(['R1.reminder-24h']);
    await n.enqueue(reminder('R1', second));
    expect((await n.later.list()).map((e) => e.dueAt)).toEqual([second]);
    clock.t = first + 1000;
    expect(await n.moveDue()).toBe(0);
    clock.t = second;
    expect(await n.moveDue()).toBe(1);
    const job = await smsQueue(n).getJob('R1.reminder-24h.sms');
    expect(job!.data.notice.sendAt).toBe(second);
    expect(await sentBefore(n, 'R1-marker')).toEqual(['R1.reminder-24h.sms']);
  });

  it('withdrawn, or moved to another time, while the pump is moving it: the job just added is removed again', async () => {
    const { clock, n } = setUp();
    const due = clock.t + 24 * HOUR;
    await n.enqueue(reminder('W1', due));
    await n.enqueue(reminder('W2', due));
    // the relay's cancel (and, for W2, the new time) lands between the pump's claim and its add
    const claim = n.later.claim.bind(n.later);
    n.later.claim = async (dueBy, leaseEnd) => {
      const claimed = await claim(dueBy, leaseEnd);
      await n.cancel(['W1.reminder-24h', 'W2.reminder-24h']);
      await n.enqueue(reminder('W2', due + 24 * HOUR));
      return claimed;
    };
    clock.t = due;
    expect(await n.moveDue()).toBe(2);
    expect(await smsQueue(n).getJobState('W1.reminder-24h.sms')).toBe('unknown');
    expect(await smsQueue(n).getJobState('W2.reminder-24h.sms')).toBe('unknown');
    expect((await n.later.list()).map((e) => [e.jobId, e.dueAt])).toEqual([['W2.reminder-24h.sms', due + 24 * HOUR]]);
  });

  it('two pumps at once: moved by one, sent once', async () => {
    const { prefix, clock, n } = setUp({ send: true });
    const other = notifier(prefix, () => clock.t);
    const due = clock.t + 24 * HOUR;
    for (let i = 0; i < 20; i++) await n.enqueue(reminder(`T${i}`, due));
    clock.t = due;
    const [a, b] = await Promise.all([n.moveDue(), other.moveDue()]);
    expect(a + b).toBe(20);
    expect(await n.later.count()).toBe(0);
    const sent = await sentBefore(n, 'T-marker');
    expect(sent.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `T${i}.reminder-24h.sms`).sort());
  });

  it('a pump that died between its add and its removal: the entry is moved again after the claim runs out, sent once', async () => {
    const { clock, n } = setUp({ send: true });
    const due = clock.t + 24 * HOUR;
    await n.enqueue(reminder('K1', due));
    clock.t = due;
    // what the dead pump did: claimed the entry and added its job, then nothing
    const [claimed] = await n.later.claim(clock.t, clock.t + LATER_LEASE_MS);
    await smsQueue(n).add(claimed!.job!.name, claimed!.job!.data, { jobId: claimed!.jobId, delay: 0 });
    expect(await n.moveDue()).toBe(0); // still claimed
    expect(await n.later.count()).toBe(1);
    clock.t = due + LATER_LEASE_MS;
    expect(await n.moveDue()).toBe(1);
    expect(await n.later.count()).toBe(0);
    expect(await sentBefore(n, 'K1-marker')).toEqual(['K1.reminder-24h.sms']);
  });

  it('after a restart (a new notifier on the same Redis) its running pump sends the reminders that came due', async () => {
    const prefix = `${FILE_PREFIX}-${++seq}`;
    const t0 = Date.now();
    const before = notifier(prefix, () => t0);
    await before.enqueue(reminder('S1', t0 + 24 * HOUR));
    await before.enqueue(reminder('S2', t0 + 48 * HOUR));
    await before.close();
    const after = notifier(prefix, () => t0 + 24 * HOUR + 5000);
    after.startWorkers(); // its pump runs by itself
    await receiver.waitFor(1, 5000, '/sms');
    expect(sentIds()).toEqual(['S1.reminder-24h.sms']);
    expect((await after.later.list()).map((e) => e.jobId)).toEqual(['S2.reminder-24h.sms']);
  });

  it('drops a corrupt entry and a due time without its job; the good one beside them is moved and sent once', async () => {
    const { prefix, clock, n } = setUp({ send: true });
    const due = clock.t + 24 * HOUR;
    await n.enqueue(reminder('C1', due));
    const keys = laterKeys(prefix);
    await bed.admin.zadd(keys.due, due, 'C0.reminder-24h.sms');
    await bed.admin.hset(keys.jobs, 'C0.reminder-24h.sms', '{"name":"reminder","data":{"not":"a job"}');
    await bed.admin.zadd(keys.due, due, 'C9.orphan.sms'); // a due time without its job
    clock.t = due;
    expect(await n.moveDue()).toBe(2);
    await receiver.waitFor(1, 5000, '/sms');
    expect(await sentBefore(n, 'C-marker')).toEqual(['C1.reminder-24h.sms']);
    expect(await n.later.count()).toBe(0);
    expect(await bed.admin.hlen(keys.jobs)).toBe(0);
  });
});
