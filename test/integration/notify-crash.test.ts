import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { Notifier, QUEUE_NAMES } from '../../src/notify/notifier.js';
import type { NotifyConfig } from '../../src/notify/types.js';
import { TestRedis } from '../support/redis.js';
import { TestReceiver } from '../support/receiver.js';
import { testNotifyConfig } from '../support/notify.js';

/**
 * A real crash: a worker process is SIGKILLed while the SMS provider holds its request (the provider has the
 * message; BullMQ still has the job active, locked by a dead worker). BullMQ's stalled checker in another
 * notifier moves the job back to wait once the lock expires, and the job runs again. The sent key was never
 * written (the process died before the provider answered), so the second run sends again: this is the window
 * only the provider can close, and the test proves both requests carry the same Idempotency-Key and body id.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PREFIX = `tnc${process.pid}${Date.now().toString(36)}`;

let server: TestRedis;
let receiver: TestReceiver;

beforeAll(async () => {
  server = await new TestRedis().start();
  receiver = await new TestReceiver().start();
});

afterAll(async () => {
  await receiver?.stop();
  await server?.destroy();
});

function config(worker: NotifyConfig['worker']): NotifyConfig {
  return testNotifyConfig(PREFIX, receiver.url, { worker });
}

/** A notifier with running workers in its own Node process (TypeScript through tsx). */
function spawnWorkerProcess(cfg: NotifyConfig): ChildProcess {
  const code = `
    const { Notifier } = await import(${JSON.stringify(pathToFileURL(`${ROOT}src/notify/notifier.ts`).href)});
    const { silentLogger } = await import(${JSON.stringify(pathToFileURL(`${ROOT}src/log.ts`).href)});
    const n = new Notifier({ connection: { host: '127.0.0.1', port: ${server.port} }, config: ${JSON.stringify(cfg)}, logger: silentLogger });
    n.startWorkers();
  `;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('worker process killed mid-send', () => {
  it('the stalled job runs again on another notifier with the same Idempotency-Key', async () => {
    const producer = new Notifier({ connection: () => server.client(), config: config(undefined), logger: silentLogger });
    const jobId = 'K1.stored.sms';
    let child: ChildProcess | null = null;
    let b: Notifier | null = null;
    try {
      receiver.hold();
      await producer.enqueue({
        id: 'K1.stored',
        kind: 'stored',
        to: { sms: '13812345678', lang: 'zh' },
        params: { siteZh: '麒麟新村', compartment: 3, code: '654321', deadline: Date.parse('2025-11-29T18:00:00+08:00') },
      });
      // Every worker process runs with the same settings: the stalled check is throttled by a key shared by all
      // workers of a queue (PX stalledInterval), so one worker's long interval would hold back the others.
      const workerSettings = { lockDurationMs: 1000, stalledIntervalMs: 300 };
      child = spawnWorkerProcess(config(workerSettings));
      await receiver.waitFor(1, 20_000);
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      receiver.release();
      const q = producer.queues().find((x) => x.name === QUEUE_NAMES.sms)!;
      expect(await q.getJobState(jobId)).toBe('active');

      b = new Notifier({ connection: () => server.client(), config: config(workerSettings), logger: silentLogger });
      b.startWorkers();
      await receiver.waitFor(2, 10_000);
      const job = await until('completed', async () => {
        // state first, then the job: a job object fetched before it finished would be stale
        if ((await q.getJobState(jobId)) !== 'completed') return undefined;
        return q.getJob(jobId);
      }, 5000);
      expect(job.stalledCounter).toBe(1);

      const [first, second] = receiver.requests;
      expect(receiver.requests).toHaveLength(2);
      expect(first!.headers['idempotency-key']).toBe(jobId);
      expect(second!.headers['idempotency-key']).toBe(jobId);
      expect(second!.body).toEqual(first!.body);
      // From now on the sent key guards: enqueueing again sends nothing.
      await producer.enqueue({
        id: 'K1.stored',
        kind: 'stored',
        to: { sms: '13812345678', lang: 'zh' },
        params: { siteZh: '麒麟新村', compartment: 3, code: '654321', deadline: 1 },
      });
      expect(await q.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await b?.close();
      await producer.close();
    }
  });
});
