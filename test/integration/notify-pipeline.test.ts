import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { formatDateTime } from '../../src/notify/localtime.js';
import { Notifier, QUEUE_NAMES, SENT_TTL_S, type NotifierDeps } from '../../src/notify/notifier.js';
import { verifySignature } from '../../src/notify/signature.js';
import type { ChannelName, Notice, NotifyConfig } from '../../src/notify/types.js';
import { systemClock } from '../../src/domain/clock.js';
import { Checkpoints } from '../../src/evidence/checkpoints.js';
import { EvidenceLog, unitChain } from '../../src/evidence/log.js';
import { Verifier } from '../../src/evidence/verify.js';
import { deliveryRecorder } from '../../src/evidence/notices.js';
import { systemActor } from '../../src/evidence/entry.js';
import { notifyTestbed } from '../support/notify.js';
import type { ConsoleText } from '../../src/notify/channels/console.js';
import { Counters } from '../../src/metrics.js';

const FILE_PREFIX = `tnp${process.pid}${Date.now().toString(36)}`;
const TZ = 'Asia/Shanghai';
const sh = (local: string) => Date.parse(`${local}+08:00`);
const HOUR = 3600_000;

const bed = notifyTestbed();
const { server, receiver } = bed;
let seq = 0;

/** A notifier on its own prefix, the real receiver as SMS provider and the property's webhook. */
function notifier(over: Partial<NotifyConfig> = {}, now?: () => number, deps: Pick<NotifierDeps, 'stillWanted' | 'deliveries' | 'consoleInbox' | 'counters'> = {}): Notifier {
  return bed.notifier(
    `${FILE_PREFIX}-${++seq}`,
    {
      timeZone: TZ,
      sms: { url: `${receiver.url}/sms`, token: 'test-token', ratePerSecond: 100 },
      propertyWebhook: { url: `${receiver.url}/property`, secret: 'property-secret' },
      attempts: 4,
      ...over,
    },
    { ...(now ? { now } : {}), ...deps },
  );
}

function queue(n: Notifier, channel: ChannelName): Queue {
  const q = n.queues().find((x) => x.name === QUEUE_NAMES[channel]);
  if (!q) throw new Error(`no queue ${channel}`);
  return q;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const stateIs = (q: Queue, jobId: string, state: string) =>
  until(`${jobId} ${state}`, async () => (await q.getJobState(jobId)) === state);

const deadline = sh('2025-11-29T18:00:00');
function stored(parcelId: string, over: Partial<Notice> = {}): Notice {
  return {
    id: `${parcelId}.stored`,
    kind: 'stored',
    parcelId,
    to: { sms: '+86 138 1234 5678', lang: 'zh' },
    params: { carrier: 'SF', tracking: 'SF1234561234', siteZh: '里厍二村北区', siteEn: 'Lishe Ercun North', compartment: 12, code: '482913', deadline },
    ...over,
  };
}
function reminder(parcelId: string, over: Partial<Notice> = {}): Notice {
  return { ...stored(parcelId), id: `${parcelId}.reminder-24h`, kind: 'reminder', quiet: true, ...over };
}

describe('notifier: SMS delivery', () => {
  it('delivers a stored notice with the right text, headers and idempotency key, then scrubs the code', async () => {
    const n = notifier();
    n.startWorkers();
    await n.enqueue(stored('P1'));
    const [req] = await receiver.waitFor(1);
    expect(req).toMatchObject({
      method: 'POST',
      path: '/sms',
      body: {
        to: '+8613812345678',
        text: '【里厍社区快递柜】您的包裹(顺丰 …1234)已存入里厍二村北区 12号格口，取件码 482913，请在11月29日18:00前取件。',
        id: 'P1.stored.sms',
      },
    });
    expect(req!.headers.authorization).toBe('Bearer test-token');
    expect(req!.headers['idempotency-key']).toBe('P1.stored.sms');
    expect(req!.headers['content-type']).toBe('application/json');

    const q = queue(n, 'sms');
    await stateIs(q, 'P1.stored.sms', 'completed');
    const job = await q.getJob('P1.stored.sms');
    expect(job!.returnvalue).toEqual({ result: 'sent' });
    expect(job!.data.notice.params).not.toHaveProperty('code');
    const ttl = await bed.admin.ttl(n.sentKey('P1.stored.sms'));
    expect(ttl).toBeGreaterThan(SENT_TTL_S - 60);
  });

  it('retries 500, 500 with exponential backoff and delivers once on the 200', async () => {
    const n = notifier();
    n.startWorkers();
    receiver.failNext(2, 500);
    await n.enqueue(stored('P2'));
    const reqs = await receiver.waitFor(3);
    await stateIs(queue(n, 'sms'), 'P2.stored.sms', 'completed');
    expect(receiver.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(receiver.accepted).toHaveLength(1);
    expect(new Set(reqs.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['P2.stored.sms']));
    // backoff 50 ms, then 100 ms (exponential)
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(45);
    expect(reqs[2]!.at - reqs[1]!.at).toBeGreaterThanOrEqual(95);
    expect(await n.failures()).toEqual([]);
  });

  it('stops the back-off growing at backoffMaxMs: five failures in a row, then delivered without waiting a minute', async () => {
    // uncapped, the second attempt would wait backoffMs (60 s) and this test time out
    const n = notifier({ attempts: 8, backoffMs: 60_000, backoffMaxMs: 50 });
    n.startWorkers();
    receiver.failNext(5, 503);
    await n.enqueue(stored('P2C'));
    const reqs = await receiver.waitFor(6);
    await stateIs(queue(n, 'sms'), 'P2C.stored.sms', 'completed');
    expect(reqs.map((r) => r.status)).toEqual([503, 503, 503, 503, 503, 200]);
    for (let i = 1; i < reqs.length; i++) expect(reqs[i]!.at - reqs[i - 1]!.at).toBeGreaterThanOrEqual(45);
  });

  it('treats a 400 as permanent: one request, listed by failures() with a masked phone', async () => {
    const n = notifier();
    n.startWorkers();
    receiver.failAlways(400);
    const before = Date.now();
    await n.enqueue(stored('P3'));
    await stateIs(queue(n, 'sms'), 'P3.stored.sms', 'failed');
    expect(receiver.requests).toHaveLength(1);
    const [f] = await n.failures();
    expect(f).toMatchObject({
      jobId: 'P3.stored.sms',
      channel: 'sms',
      noticeId: 'P3.stored',
      kind: 'stored',
      to: '138****5678',
      attempts: 1,
    });
    expect(f!.reason).toMatch(/^HTTP 400/);
    expect(f!.failedAt).toBeGreaterThanOrEqual(before);
    expect(JSON.stringify(await n.failures())).not.toContain('12345678');
  });

  it('gives up after the configured attempts on 5xx and lists failures newest first', async () => {
    const n = notifier({ attempts: 3 });
    n.startWorkers();
    receiver.failAlways(400);
    await n.enqueue(stored('P4a'));
    await stateIs(queue(n, 'sms'), 'P4a.stored.sms', 'failed');
    receiver.failAlways(503);
    await n.enqueue(stored('P4b'));
    await stateIs(queue(n, 'sms'), 'P4b.stored.sms', 'failed');
    expect(receiver.requests.map((r) => r.status)).toEqual([400, 503, 503, 503]);
    const failures = await n.failures();
    expect(failures.map((f) => [f.jobId, f.attempts])).toEqual([
      ['P4b.stored.sms', 3],
      ['P4a.stored.sms', 1],
    ]);
    expect(failures[0]!.reason).toMatch(/^HTTP 503/);
    expect(await n.failures(1)).toHaveLength(1);
  });

  it('sends a notice enqueued twice (at once, and again after it was sent) only once', async () => {
    const n = notifier();
    n.startWorkers();
    await Promise.all([n.enqueue(stored('P5')), n.enqueue(stored('P5'))]);
    await receiver.waitFor(1);
    const q = queue(n, 'sms');
    await stateIs(q, 'P5.stored.sms', 'completed');
    await n.enqueue(stored('P5'));
    expect(await q.getJobCounts('completed', 'waiting', 'delayed', 'active')).toEqual({ completed: 1, waiting: 0, delayed: 0, active: 0 });
    // A later notice goes through: had the duplicate been queued, it would have been sent before this one.
    await n.enqueue(stored('P5-marker'));
    await receiver.waitFor(2);
    await stateIs(q, 'P5-marker.stored.sms', 'completed');
    expect(receiver.requests.map((r) => (r.body as { id: string }).id)).toEqual(['P5.stored.sms', 'P5-marker.stored.sms']);
  });

  it('never sends a reminder cancelled before it was due', async () => {
    const n = notifier();
    n.startWorkers();
    const q = queue(n, 'sms');
    // far enough ahead that a loaded machine still finds it delayed when it looks
    await n.enqueue(reminder('P6', { sendAt: Date.now() + 3000 }));
    expect(await q.getJobState('P6.reminder-24h.sms')).toBe('delayed');
    await n.cancel(['P6.reminder-24h', 'P6.overdue']);
    expect(await q.getJobState('P6.reminder-24h.sms')).toBe('unknown');
    // Due after the cancelled one would have been: once it arrives, the cancelled one would have too.
    await n.enqueue(stored('P6-marker', { sendAt: Date.now() + 3200 }));
    await receiver.waitFor(1);
    expect(receiver.requests.map((r) => (r.body as { id: string }).id)).toEqual(['P6-marker.stored.sms']);
  });

  it('a cancel removes waiting and delayed jobs (every route) and leaves a sent one alone', async () => {
    const idle = notifier(); // no workers: its jobs stay waiting or delayed
    await idle.enqueue(stored('P20', { to: { sms: '13812345678', lang: 'zh', webhook: 'property' } }));
    await idle.enqueue(reminder('P21', { sendAt: Date.now() + 30_000 })); // under later.afterMs: a BullMQ delayed job
    expect(await queue(idle, 'sms').getJobState('P20.stored.sms')).toBe('waiting');
    expect(await queue(idle, 'webhook').getJobState('P20.stored.webhook')).toBe('waiting');
    expect(await queue(idle, 'sms').getJobState('P21.reminder-24h.sms')).toBe('delayed');
    await idle.cancel(['P20.stored', 'P21.reminder-24h', 'P-none.stored']);
    expect(await queue(idle, 'sms').getJobState('P20.stored.sms')).toBe('unknown');
    expect(await queue(idle, 'webhook').getJobState('P20.stored.webhook')).toBe('unknown');
    expect(await queue(idle, 'sms').getJobState('P21.reminder-24h.sms')).toBe('unknown');
    // no SMS provider: the sms route's jobs are in the console queue, and cancelled there
    const consoleOnly = notifier({ sms: null, propertyWebhook: null });
    await consoleOnly.enqueue(reminder('P23', { to: { sms: '13812345678', lang: 'zh', webhook: 'property' }, sendAt: Date.now() + 30_000 }));
    expect(await queue(consoleOnly, 'console').getJobState('P23.reminder-24h.sms')).toBe('delayed');
    expect(await queue(consoleOnly, 'console').getJobState('P23.reminder-24h.webhook')).toBe('delayed');
    await consoleOnly.cancel(['P23.reminder-24h']);
    expect(await queue(consoleOnly, 'console').getJobState('P23.reminder-24h.sms')).toBe('unknown');
    expect(await queue(consoleOnly, 'console').getJobState('P23.reminder-24h.webhook')).toBe('unknown');

    const n = notifier();
    n.startWorkers();
    await n.enqueue(stored('P22'));
    await stateIs(queue(n, 'sms'), 'P22.stored.sms', 'completed');
    await n.cancel(['P22.stored']);
    expect(await queue(n, 'sms').getJobState('P22.stored.sms')).toBe('completed');
  });

  it('records a delivery once in the evidence of its unit with its sent key, also when another writer moved the chain', async () => {
    const evPrefix = `${FILE_PREFIX}-ev${++seq}:`;
    const log = new EvidenceLog(server.client(), evPrefix);
    const other = new EvidenceLog(server.client(), evPrefix); // the gateway, appending to the same chain
    const chain = unitChain('U1');
    const entry = (kind: string) => ({ at: Date.now(), kind, actor: systemActor('test'), unit: 'U1' });
    await log.append(chain, [entry('door-opened')]); // the recorder's log now holds a head ...
    await other.append(chain, [entry('door-closed')]); // ... that another writer moves on
    const n = notifier({}, undefined, { deliveries: deliveryRecorder(log, systemClock) });
    n.startWorkers();
    await n.enqueue(stored('P30', { params: { ...stored('P30').params, unit: 'U1' } }));
    await receiver.waitFor(1);
    await stateIs(queue(n, 'sms'), 'P30.stored.sms', 'completed');
    expect(await bed.admin.exists(n.sentKey('P30.stored.sms'))).toBe(1);
    expect(await bed.admin.ttl(n.sentKey('P30.stored.sms'))).toBeGreaterThan(SENT_TTL_S - 60);
    const kinds = async () => (await bed.admin.xrange(`${evPrefix}evidence:${chain}`, '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('e') + 1]!) as { kind: string; noticeKind?: string; result?: string; parcel?: string });
    expect(await kinds()).toMatchObject([{ kind: 'door-opened' }, { kind: 'door-closed' }, { kind: 'notice', noticeKind: 'stored', result: 'sent', parcel: 'P30' }]);
    const report = await new Verifier(bed.admin, evPrefix, other, new Checkpoints(bed.admin, evPrefix, other, Buffer.from('k'), systemClock)).verify(chain);
    expect(report).toMatchObject({ ok: true, checked: 3 });

    // a second run of the job (a stalled one, say) finds the key: nothing recorded again
    const job = (await queue(n, 'sms').getJob('P30.stored.sms'))!;
    const again = await deliveryRecorder(log, systemClock).recordSent!(job.data, 'sms', { key: n.sentKey('P30.stored.sms'), value: '1', ttlS: 60 });
    expect(again).toBe(false);
    expect(await kinds()).toHaveLength(3);
  });

  it('sends through the console channel when no SMS provider is configured: at once, without a job, once', async () => {
    const texts: ConsoleText[] = [];
    const counters = new Counters();
    const n = notifier({ sms: null }, undefined, { consoleInbox: (t) => texts.push(t), counters });
    // no workers: the console text is delivered by enqueue itself
    await n.enqueue(stored('P7'));
    expect(texts).toMatchObject([{ to: '13812345678', kind: 'stored', parcelId: 'P7' }]);
    expect(texts[0]!.text).toContain('482913');
    expect(await queue(n, 'console').getJobState('P7.stored.sms')).toBe('unknown');
    expect(await bed.admin.exists(n.sentKey('P7.stored.sms'))).toBe(1);
    expect(counters.get('notify_sent_total', { channel: 'console' })).toBe(1);
    // the same notice again (the relay replaying its entry after a crash): not sent again
    await n.enqueueMany([stored('P7')]);
    expect(texts).toHaveLength(1);
    expect(counters.get('notify_sent_total', { channel: 'console' })).toBe(1);
    expect(receiver.requests).toHaveLength(0);
  });

  it('a console notice not due now, and a reminder, still go through the queue', async () => {
    const texts: ConsoleText[] = [];
    let now = sh('2025-11-30T07:59:30');
    const n = notifier({ sms: null, quietHours: { start: '21:00', end: '08:00' } }, () => now, { consoleInbox: (t) => texts.push(t) });
    // quiet, 30 s before quiet hours end: delayed in the queue
    await n.enqueue({ ...stored('P7Q'), quiet: true });
    expect(await queue(n, 'console').getJobState('P7Q.stored.sms')).toBe('delayed');
    // a reminder due now: its worker asks first whether its parcel still waits (stillWanted)
    now = sh('2025-11-30T10:00:00');
    await n.enqueue(reminder('P7R', { sendAt: now }));
    expect(await queue(n, 'console').getJobState('P7R.reminder-24h.sms')).toBe('waiting');
    expect(texts).toEqual([]);
  });

  it('refuses a notice that can never be sent', async () => {
    const n = notifier();
    await expect(n.enqueue({ ...stored('P8'), to: { sms: '12345', lang: 'zh' } })).rejects.toThrow(/mainland mobile/);
    await expect(n.enqueue({ ...stored('P8'), params: { compartment: 3 } })).rejects.toThrow(/missing parameter/);
    expect(await queue(n, 'sms').getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 });
  });

  it('keeps to the SMS rate limit (BullMQ limiter)', async () => {
    const n = notifier({ sms: { url: `${receiver.url}/sms`, token: 't', ratePerSecond: 10 } });
    n.startWorkers();
    await Promise.all(Array.from({ length: 15 }, (_, i) => n.enqueue(stored(`R${i}`))));
    const reqs = await receiver.waitFor(15, 5000);
    // The limiter's window opens when the first job starts (BullMQ stamps processedOn before its script creates the
    // window). An 11th text can only be sent once the window is over: its arrival is at least 1 s after that start.
    // (Comparing arrival times alone failed under load: a late first arrival shrinks the apparent window.)
    const q = queue(n, 'sms');
    const jobs = await until('15 jobs completed', async () => {
      const done = await q.getJobs(['completed']);
      return done.length === 15 && done;
    });
    const windowOpened = Math.min(...jobs.map((j) => j.processedOn!));
    const arrivals = reqs.map((r) => r.at).sort((a, b) => a - b);
    expect(arrivals[10]! - windowOpened).toBeGreaterThanOrEqual(1000);
  });
});

describe('notifier: a reminder whose parcel is no longer waiting', () => {
  it('is withdrawn at its time, not sent (the cancel through the outbox came too late)', async () => {
    const asked: string[] = [];
    const n = notifier({}, undefined, {
      stillWanted: async (notice) => {
        asked.push(notice.id);
        return notice.parcelId !== 'GONE';
      },
    });
    n.startWorkers();
    await n.enqueue(reminder('GONE'));
    await n.enqueue(reminder('WAITING'));
    await n.enqueue(stored('GONE'));
    const q = queue(n, 'sms');
    const withdrawn = await until('the withdrawn reminder completed', async () => {
      if ((await q.getJobState('GONE.reminder-24h.sms')) !== 'completed') return false;
      return q.getJob('GONE.reminder-24h.sms');
    });
    expect(withdrawn.returnvalue).toEqual({ result: 'withdrawn' });
    const texts = await until('two texts', async () => {
      const sms = receiver.requests.filter((r) => r.path === '/sms');
      return sms.length >= 2 && sms;
    });
    expect(texts.map((r) => (r.body as { id: string }).id).sort()).toEqual(['GONE.stored.sms', 'WAITING.reminder-24h.sms']);
    // only reminders are asked about: the stored notice of the same parcel went without asking
    expect(asked.sort()).toEqual(['GONE.reminder-24h', 'WAITING.reminder-24h']);
  });
});

describe('notifier: quiet hours', () => {
  it('delays a reminder due at 23:00 local until 08:00; stored notices go at once', async () => {
    const now = sh('2030-11-26T23:00:00');
    const n = notifier({ quietHours: { start: '22:00', end: '08:00' } }, () => now);
    const q = queue(n, 'sms');
    // due hours ahead: kept in the later-store (not in BullMQ) until nearly due
    const held = async (jobId: string) => (await n.later.list()).find((e) => e.jobId === jobId)?.dueAt;
    await n.enqueue(reminder('Q1'));
    expect(await q.getJobState('Q1.reminder-24h.sms')).toBe('unknown');
    expect(await held('Q1.reminder-24h.sms')).toBe(now + 9 * HOUR);
    expect(formatDateTime((await held('Q1.reminder-24h.sms'))!, 'zh', TZ)).toBe('11月27日08:00');

    await n.enqueue(stored('Q2'));
    const storedJob = await q.getJob('Q2.stored.sms');
    expect(storedJob!.delay).toBe(0);
    expect(await storedJob!.getState()).toBe('waiting');

    // sendAt outside quiet hours is kept; inside, moved to their end
    await n.enqueue(reminder('Q3', { sendAt: sh('2030-11-27T21:00:00') }));
    expect(await held('Q3.reminder-24h.sms')).toBe(now + 22 * HOUR);
    await n.enqueue(reminder('Q4', { sendAt: sh('2030-11-27T22:30:00') }));
    expect(await held('Q4.reminder-24h.sms')).toBe(sh('2030-11-28T08:00:00'));
    // a quiet notice due within later.afterMs is a BullMQ delayed job, as before
    await n.enqueue(reminder('Q6', { sendAt: sh('2030-11-27T07:59:30') }));
    expect(await held('Q6.reminder-24h.sms')).toBe(sh('2030-11-27T08:00:00'));
    const q5 = notifier({ quietHours: { start: '22:00', end: '08:00' } }, () => sh('2030-11-27T07:59:30'));
    await q5.enqueue(reminder('Q7'));
    const near = await queue(q5, 'sms').getJob('Q7.reminder-24h.sms');
    expect(await near!.getState()).toBe('delayed');
    expect(near!.delay).toBe(30_000);
  });

  it('a quiet notice that comes due at night in the worker is moved to the morning, not sent, no attempt used', async () => {
    const prefix = `${FILE_PREFIX}-${++seq}-shared`;
    const producer = notifier({ prefix, quietHours: null });
    const nightNow = sh('2030-11-26T23:30:00');
    const worker = notifier({ prefix, quietHours: { start: '22:00', end: '08:00' } }, () => nightNow);
    await producer.enqueue(reminder('Q5'));
    worker.startWorkers();
    const q = queue(producer, 'sms');
    await until('job deferred', async () => {
      const job = await q.getJob('Q5.reminder-24h.sms');
      return job && job.processedOn !== undefined && (await job.getState()) === 'delayed' ? job : undefined;
    });
    const job = await q.getJob('Q5.reminder-24h.sms');
    expect(job!.delay).toBeGreaterThan(8.5 * HOUR - 5000);
    expect(job!.delay).toBeLessThanOrEqual(8.5 * HOUR);
    expect(job!.attemptsMade).toBe(0);
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('notifier: webhooks', () => {
  it('posts a signed property webhook without the pickup code', async () => {
    const n = notifier();
    n.startWorkers();
    const collectedAt = sh('2025-11-27T09:15:00');
    await n.enqueue({
      id: 'W1.collected',
      kind: 'collected',
      parcelId: 'W1',
      to: { lang: 'zh', webhook: 'property' },
      params: { siteZh: '里厍二村北区', compartment: 12, collectedAt, code: '482913' },
    });
    const [req] = await receiver.waitFor(1);
    expect(req!.path).toBe('/property');
    expect(req!.headers['idempotency-key']).toBe('W1.collected.webhook');
    const sig = req!.headers['x-locker-signature'] as string;
    expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(sig, req!.raw, 'property-secret')).toMatchObject({ ok: true });
    expect(verifySignature(sig, req!.raw, 'wrong-secret').ok).toBe(false);
    expect(req!.body).toEqual({
      id: 'W1.collected',
      kind: 'collected',
      parcelId: 'W1',
      params: { siteZh: '里厍二村北区', compartment: 12, collectedAt },
      sentAt: expect.any(Number),
    });
  });

  it('posts courier webhooks to the courier URL with the courier secret, alongside the resident SMS', async () => {
    const n = notifier();
    n.startWorkers();
    await n.enqueue({
      ...stored('W2'),
      id: 'W2.overdue-courier',
      kind: 'overdue-courier',
      to: { sms: '13912345678', lang: 'en', webhook: { courierId: 'sf-77', url: `${receiver.url}/courier/sf-77`, secret: 'courier-secret' } },
    });
    const [hook] = await receiver.waitFor(1, 5000, '/courier/sf-77');
    expect(verifySignature(hook!.headers['x-locker-signature'] as string, hook!.raw, 'courier-secret').ok).toBe(true);
    const [sms] = await receiver.waitFor(1, 5000, '/sms');
    expect((sms!.body as { text: string }).text).toMatch(/^\[Lishe Parcel Lockers\] Parcel \(SF Express …1234\) in Lishe Ercun North, box 12/);
    expect(sms!.headers['idempotency-key']).toBe('W2.overdue-courier.sms');
    expect(hook!.headers['idempotency-key']).toBe('W2.overdue-courier.webhook');
  });

  it('lists a refused courier webhook as courier:<id>', async () => {
    const n = notifier();
    n.startWorkers();
    receiver.failAlways(410);
    await n.enqueue({
      id: 'W3.deposit-cancelled',
      kind: 'deposit-cancelled',
      to: { lang: 'zh', webhook: { courierId: 'zto-1', url: `${receiver.url}/courier/zto-1`, secret: 'courier-secret' } },
      params: { siteZh: '麒麟新村', compartment: 4 },
    });
    await stateIs(queue(n, 'webhook'), 'W3.deposit-cancelled.webhook', 'failed');
    expect(await n.failures()).toMatchObject([{ channel: 'webhook', to: 'courier:zto-1', reason: expect.stringMatching(/^HTTP 410/) }]);
  });
});
