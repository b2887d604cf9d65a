import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { Notifier, type NotifierDeps } from '../../src/notify/notifier.js';
import type { NotifyConfig } from '../../src/notify/types.js';
import { TestReceiver } from './receiver.js';
import { redisForFile } from './redis-file.js';

/** A notifier's test settings: `receiverUrl` as the SMS provider (`/sms`), no quiet hours, quick retries. */
export function testNotifyConfig(prefix: string, receiverUrl: string, over: Partial<NotifyConfig> = {}): NotifyConfig {
  return {
    prefix,
    timeZone: 'Asia/Shanghai',
    quietHours: null,
    sms: { url: `${receiverUrl}/sms`, token: 't', ratePerSecond: 100 },
    propertyWebhook: null,
    webhookRatePerSecond: 100,
    attempts: 3,
    backoffMs: 50,
    ...over,
  };
}

/**
 * What a notification test file runs against: a redis-server of its own, a real HTTP receiver as the SMS provider
 * and webhooks, an admin client. Notifiers made with `notifier()` (and anything passed to `afterTest`) are closed
 * after each test, and the receiver forgets what it got.
 */
export function notifyTestbed() {
  const server = redisForFile();
  const receiver = new TestReceiver();
  const cleanup: (() => Promise<unknown>)[] = [];
  let admin: Redis | null = null;
  beforeAll(async () => {
    await receiver.start();
    admin = server.client();
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    receiver.reset();
  });
  afterAll(async () => {
    admin?.disconnect();
    await receiver.stop();
  });
  return {
    server,
    receiver,
    get admin(): Redis {
      if (!admin) throw new Error('the testbed starts before the tests');
      return admin;
    },
    /** closed after the test, last in first */
    afterTest(fn: () => Promise<unknown>): void {
      cleanup.push(fn);
    },
    /** A notifier on `prefix`, the receiver as its SMS provider, no quiet hours, quick retries; closed after the test. */
    notifier(prefix: string, over: Partial<NotifyConfig> = {}, deps: Partial<Pick<NotifierDeps, 'now' | 'stillWanted' | 'deliveries' | 'consoleInbox' | 'counters'>> = {}): Notifier {
      const n = new Notifier({
        connection: () => server.client(),
        config: testNotifyConfig(prefix, receiver.url, over),
        logger: silentLogger,
        ...deps,
      });
      cleanup.push(() => n.close());
      return n;
    },
  };
}
