import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';
import { Notifier, QUEUE_NAMES } from '../../src/notify/notifier.js';
import { OutboxRelay } from '../../src/notify/outbox.js';
import type { Notice } from '../../src/notify/types.js';
import { notifyTestbed } from '../support/notify.js';

const FILE_PREFIX = `tno${process.pid}${Date.now().toString(36)}`;

const bed = notifyTestbed();
const { server, receiver } = bed;
let seq = 0;

/** One test's world: its key prefix (the parcel store's, for the stream) and BullMQ prefix. */
function world() {
  const n = ++seq;
  return { keyPrefix: `${FILE_PREFIX}:${n}:`, bullPrefix: `${FILE_PREFIX}-${n}` };
}

function notifier(prefix: string): Notifier {
  return bed.notifier(prefix);
}

function relay(keyPrefix: string, n: Notifier, counters?: Counters): OutboxRelay {
  const redis = server.client();
  const r = new OutboxRelay({ redis, keyPrefix, notifier: n, logger: silentLogger, ...(counters ? { counters } : {}) });
  bed.afterTest(async () => {
    await r.stop();
    redis.disconnect();
  });
  return r;
}

function smsQueue(n: Notifier): Queue {
  return n.queues().find((q) => q.name === QUEUE_NAMES.sms)!;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function notice(parcelId: string, over: Partial<Notice> = {}): Notice {
  return {
    id: `${parcelId}.stored`,
    kind: 'stored',
    parcelId,
    to: { sms: '13812345678', lang: 'zh' },
    params: { siteZh: '里厍二村北区', compartment: 7, code: '123456', deadline: Date.parse('2025-11-29T18:00:00+08:00') },
    ...over,
  };
}

/** What the parcel Lua scripts do: XADD to `${keyPrefix}outbox`. */
const addNotice = (keyPrefix: string, n: Notice) => bed.admin.xadd(`${keyPrefix}outbox`, '*', 'type', 'notice', 'notice', JSON.stringify(n));
const addCancel = (keyPrefix: string, ids: string[]) => bed.admin.xadd(`${keyPrefix}outbox`, '*', 'type', 'cancel', 'ids', JSON.stringify(ids));
const pendingCount = async (keyPrefix: string) => ((await bed.admin.xpending(`${keyPrefix}outbox`, 'notify')) as [number])[0];

describe('outbox relay', () => {
  it('delivers notices written to the outbox stream and applies cancels', async () => {
    const { keyPrefix, bullPrefix } = world();
    const n = notifier(bullPrefix);
    n.startWorkers();
    const r = relay(keyPrefix, n);
    r.start();
    await addNotice(keyPrefix, notice('O1'));
    await addNotice(keyPrefix, notice('O2', { to: { sms: '13912345678', lang: 'en' } }));
    await addNotice(keyPrefix, notice('O3', { id: 'O3.reminder-24h', kind: 'reminder', sendAt: Date.now() + 60_000 }));
    await addCancel(keyPrefix, ['O3.reminder-24h']);
    const reqs = await receiver.waitFor(2);
    expect(reqs.map((q) => (q.body as { id: string }).id).sort()).toEqual(['O1.stored.sms', 'O2.stored.sms']);
    await until('all entries handled', () => r.stats.processed === 4);
    expect(await smsQueue(n).getJobState('O3.reminder-24h.sms')).toBe('unknown');
    expect(await pendingCount(keyPrefix)).toBe(0);
    // acked entries are deleted: the phone numbers and codes do not linger in the stream
    expect(await bed.admin.xlen(`${keyPrefix}outbox`)).toBe(0);
  });

  it('drops malformed entries (logged, counted, acked) and keeps going', async () => {
    const { keyPrefix, bullPrefix } = world();
    const n = notifier(bullPrefix);
    n.startWorkers();
    const counters = new Counters();
    const r = relay(keyPrefix, n, counters);
    r.start();
    const stream = `${keyPrefix}outbox`;
    await bed.admin.xadd(stream, '*', 'type', 'notice', 'notice', '{not json');
    await bed.admin.xadd(stream, '*', 'type', 'parcel-exploded');
    await bed.admin.xadd(stream, '*', 'type', 'notice');
    await bed.admin.xadd(stream, '*', 'type', 'notice', 'notice', JSON.stringify(notice('M1', { to: { sms: '555-0100', lang: 'zh' } })));
    await bed.admin.xadd(stream, '*', 'type', 'notice', 'notice', JSON.stringify(notice('M2', { params: {} })));
    await bed.admin.xadd(stream, '*', 'type', 'cancel', 'ids', '"M1.stored"');
    await addNotice(keyPrefix, notice('M3'));
    const [req] = await receiver.waitFor(1);
    expect((req!.body as { id: string }).id).toBe('M3.stored.sms');
    await until('all handled', () => r.stats.processed === 7);
    expect(r.stats.malformed).toBe(6);
    expect(counters.get('notify_outbox_malformed_total')).toBe(6);
    expect(await pendingCount(keyPrefix)).toBe(0);
    // still running
    await addNotice(keyPrefix, notice('M4'));
    await receiver.waitFor(2);
    expect(receiver.requests).toHaveLength(2);
  });

  it('drainOnce handles everything new and reports how many', async () => {
    const { keyPrefix, bullPrefix } = world();
    const n = notifier(bullPrefix);
    const r = relay(keyPrefix, n);
    expect(await r.drainOnce()).toBe(0);
    await addNotice(keyPrefix, notice('D1'));
    await addNotice(keyPrefix, notice('D2'));
    expect(await r.drainOnce()).toBe(2);
    expect(await smsQueue(n).getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('one batch keeps stream order: a cancel applies to the notices before it, not to one queued again after it', async () => {
    const { keyPrefix, bullPrefix } = world();
    const n = notifier(bullPrefix);
    const counters = new Counters();
    const r = relay(keyPrefix, n, counters);
    const later = Date.now() + 10 * 60_000; // kept in the later-store until nearly due
    // all written before the relay reads: one XREADGROUP batch
    await addNotice(keyPrefix, notice('B1'));
    await addNotice(keyPrefix, notice('B2', { id: 'B2.reminder-24h', kind: 'reminder', sendAt: later }));
    await addNotice(keyPrefix, notice('B3', { id: 'B3.reminder-24h', kind: 'reminder', sendAt: later }));
    await addCancel(keyPrefix, ['B2.reminder-24h', 'B3.reminder-24h']);
    await addNotice(keyPrefix, notice('B4', { params: {} })); // missing template parameters: malformed
    await addNotice(keyPrefix, notice('B3', { id: 'B3.reminder-24h', kind: 'reminder', sendAt: later })); // moved: queued again
    await addNotice(keyPrefix, notice('B5'));
    expect(await r.drainOnce()).toBe(7);
    const q = smsQueue(n);
    expect(await q.getJobState('B1.stored.sms')).toBe('waiting');
    expect(await q.getJobState('B2.reminder-24h.sms')).toBe('unknown');
    expect(await q.getJobState('B3.reminder-24h.sms')).toBe('unknown');
    expect((await n.later.list()).map((e) => [e.jobId, e.dueAt])).toEqual([['B3.reminder-24h.sms', later]]);
    expect(await q.getJobState('B5.stored.sms')).toBe('waiting');
    expect(r.stats).toMatchObject({ processed: 7, malformed: 1 });
    expect(counters.get('notify_outbox_malformed_total')).toBe(1);
    expect(await pendingCount(keyPrefix)).toBe(0);
    expect(await bed.admin.xlen(`${keyPrefix}outbox`)).toBe(0);
  });

  it('entries handled by the running loop are acked and deleted (with its next read), and none is left pending at stop', async () => {
    const { keyPrefix, bullPrefix } = world();
    const n = notifier(bullPrefix);
    const r = relay(keyPrefix, n);
    r.start();
    for (const id of ['A1', 'A2', 'A3']) {
      await addNotice(keyPrefix, notice(id));
      await until(`${id} handled`, () => r.stats.processed === Number(id.slice(1)));
    }
    await until('acked', async () => (await pendingCount(keyPrefix)) === 0);
    expect(await bed.admin.xlen(`${keyPrefix}outbox`)).toBe(0);
    await addNotice(keyPrefix, notice('A4'));
    await addNotice(keyPrefix, notice('A5'));
    await until('A4, A5 handled', () => r.stats.processed === 5);
    await r.stop();
    expect(await pendingCount(keyPrefix)).toBe(0);
    expect(await bed.admin.xlen(`${keyPrefix}outbox`)).toBe(0);
    expect((await smsQueue(n).getJobs(['waiting'])).map((j) => j.id).sort()).toEqual(['A1.stored.sms', 'A2.stored.sms', 'A3.stored.sms', 'A4.stored.sms', 'A5.stored.sms']);
  });

  it('stops promptly while blocked on the stream', async () => {
    const { keyPrefix, bullPrefix } = world();
    const r = relay(keyPrefix, notifier(bullPrefix));
    r.start();
    await until('relay blocked', () => bed.admin.exists(`${keyPrefix}outbox`));
    await new Promise((res) => setTimeout(res, 50));
    const t = Date.now();
    await r.stop();
    expect(Date.now() - t).toBeLessThan(500);
  });
});

describe('crash safety: exactly one message', () => {
  /**
   * The relay read an entry and enqueued it, then died before XACK: the entry is in its pending list.
   * A restarted relay replays it; the job id is the same, BullMQ ignores the add.
   */
  it('relay crash between enqueue and XACK: the replay re-enqueues the same job id, nothing is sent twice', async () => {
    const { keyPrefix, bullPrefix } = world();
    const stream = `${keyPrefix}outbox`;
    await bed.admin.xgroup('CREATE', stream, 'notify', '0', 'MKSTREAM');
    await addNotice(keyPrefix, notice('C1'));
    // the first relay's life: read (entry now pending for relay-1), enqueue, crash before XACK
    const read = (await bed.admin.xreadgroup('GROUP', 'notify', 'relay-1', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const fields = read[0]![1][0]![1];
    const a = notifier(bullPrefix);
    a.startWorkers();
    await a.enqueue(JSON.parse(fields[3]!) as Notice);
    await receiver.waitFor(1);
    await until('sent', async () => (await smsQueue(a).getJobState('C1.stored.sms')) === 'completed');
    expect(await pendingCount(keyPrefix)).toBe(1);

    const r = relay(keyPrefix, a);
    r.start();
    await until('replayed', () => r.stats.processed === 1);
    expect(await pendingCount(keyPrefix)).toBe(0);
    expect(await smsQueue(a).getJobCounts('completed', 'waiting', 'delayed', 'active')).toEqual({
      completed: 1, waiting: 0, delayed: 0, active: 0,
    });
    expect(receiver.requests).toHaveLength(1);
  });

  /**
   * Notifier A sends (the provider accepted) and is closed abruptly; BullMQ's record of the completed job is
   * gone (as when a worker dies before marking it complete, or after removeOnComplete evicted it), and the
   * relay had not acked the entry. Notifier B and a fresh relay replay the entry: a new job with the same id
   * is created and run, and the worker's sent key stops it.
   */
  it('worker crash after the provider accepted: a second notifier + relay replay the entry, still one request', async () => {
    const { keyPrefix, bullPrefix } = world();
    const stream = `${keyPrefix}outbox`;
    await bed.admin.xgroup('CREATE', stream, 'notify', '0', 'MKSTREAM');
    await addNotice(keyPrefix, notice('C2'));
    const read = (await bed.admin.xreadgroup('GROUP', 'notify', 'relay-1', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const a = notifier(bullPrefix);
    a.startWorkers();
    await a.enqueue(JSON.parse(read[0]![1][0]![1][3]!) as Notice);
    await receiver.waitFor(1);
    await until('sent key written', () => bed.admin.exists(a.sentKey('C2.stored.sms')));
    await until('completed', async () => (await smsQueue(a).getJobState('C2.stored.sms')) === 'completed');
    await Promise.all(a.queues().map((q) => q.remove('C2.stored.sms')));
    await a.close();

    const b = notifier(bullPrefix);
    b.startWorkers();
    const r = relay(keyPrefix, b);
    r.start();
    await until('replayed', () => r.stats.processed === 1);
    const job = await until('re-run', async () => {
      // state first, then the job: a job object fetched before it finished would show no return value
      if ((await smsQueue(b).getJobState('C2.stored.sms')) !== 'completed') return undefined;
      return smsQueue(b).getJob('C2.stored.sms');
    });
    expect(job.returnvalue).toEqual({ result: 'already-sent' });
    expect(receiver.requests).toHaveLength(1);
    expect(await pendingCount(keyPrefix)).toBe(0);
  });
});
