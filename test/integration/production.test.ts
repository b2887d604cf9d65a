import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { DEV_CREDENTIALS_FILE } from '../../src/config/credentials.js';
import { startEntry } from '../support/entry.js';
import { freePort } from '../support/ports.js';
import { TestRedis } from '../support/redis.js';

/**
 * Issue 7, "production with development secrets", against the real process (src/runtime/node.ts): each refusal
 * class exits 2 before anything listens, naming the setting; a production configuration of its own starts.
 */
describe('production refuses development secrets and unsafe settings (real process)', () => {
  const redis = new TestRedis();
  const dir = mkdtempSync(join(tmpdir(), 'lg-prod-'));
  const ownCredentials = join(dir, 'credentials.json');
  const hex = () => randomBytes(32).toString('hex');
  let good: Record<string, string>;

  beforeAll(async () => {
    await redis.start();
    const units = Object.fromEntries(UNITS.map((u) => [u.id, { password: hex(), keyHex: u.dialect === 'frame-485' ? null : hex() }]));
    writeFileSync(ownCredentials, JSON.stringify({ gateway: { username: 'locker-gateway', password: hex(), codeKeyHex: hex() }, units }), { mode: 0o600 });
    good = {
      NODE_ENV: 'production',
      CREDENTIALS_FILE: ownCredentials,
      STAFF_TOKEN: hex(),
      SMS_URL: 'http://127.0.0.1:9/sms',
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'prod:',
      PORT: String(await freePort()),
      MQTT_PORT: String(await freePort()),
    };
  });
  afterAll(async () => {
    await redis.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the entry point; a process that starts instead of refusing is stopped and reported as 'started'. */
  async function outcome(change: Record<string, string>): Promise<{ code: number | null | 'started'; stderr: string }> {
    const run = startEntry({ ...good, ...change });
    const code = await Promise.race([run.exited, run.waitFor('locker-gateway is running').then(() => 'started' as const, () => null)]);
    if (code === 'started') {
      run.proc.kill('SIGTERM');
      await run.exited;
    }
    return { code: code === 'started' ? 'started' : await run.exited, stderr: run.stderr() };
  }

  it.each([
    ['the development credentials file', { CREDENTIALS_FILE: DEV_CREDENTIALS_FILE }, /refuses to start: invalid configuration: CREDENTIALS_FILE: .* is the development copy/],
    [
      'the development credentials through CREDENTIALS_JSON',
      { CREDENTIALS_JSON: readFileSync(DEV_CREDENTIALS_FILE, 'utf8') },
      /refuses to start: CREDENTIALS_JSON: holds secrets of the development credentials \(credentials\.gateway\.password, /,
    ],
    ["the README's staff token", { STAFF_TOKEN: DEV_STAFF_TOKEN }, /refuses to start: invalid configuration: STAFF_TOKEN: is the development token documented in the README/],
    ['a 16-character token of one letter', { STAFF_TOKEN: 'a'.repeat(16) }, /refuses to start: invalid configuration: STAFF_TOKEN: too short for production/],
    ['SIMULATORS=on', { SIMULATORS: 'on' }, /refuses to start: invalid configuration: SIMULATORS: must be off in production/],
    ['texts to the console (no SMS_URL)', { SMS_URL: '' }, /refuses to start: invalid configuration: SMS_URL: required in production; without it texts go to the console log/],
  ])('refuses %s, naming the setting', async (_what, change, message) => {
    const r = await outcome(change);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('starts with credentials, a token and an SMS provider of its own: no simulators, no /dev/sims', async () => {
    const run = startEntry(good);
    try {
      await run.waitFor('locker-gateway is running');
      expect(run.stderr()).toContain('"simulatedUnits":0');
      const base = `http://127.0.0.1:${good.PORT}`;
      expect((await fetch(`${base}/dev/sims/LSN-0001`)).status).toBe(404);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // STAFF_TOKEN is a development bootstrap: in production the API refuses it (named staff sign in)
      expect((await fetch(`${base}/v1/admin/couriers`, { headers: { authorization: `Bearer ${good.STAFF_TOKEN}` } })).status).toBe(401);
      expect((await fetch(`${base}/v1/admin/couriers`, { headers: { authorization: `Bearer ${DEV_STAFF_TOKEN}` } })).status).toBe(401);
    } finally {
      run.proc.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    }
  });
});
