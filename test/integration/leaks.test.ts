import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { startEntry, type EntryProcess } from '../support/entry.js';
import { freePort } from '../support/ports.js';
import { TestRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';

const STAFF = { authorization: `Bearer ${DEV_STAFF_TOKEN}` };

/**
 * Issue 7, "information leaks", against the real process (src/runtime/node.ts with its simulated units): the
 * simulators' routes are not served to the network without the staff token, and a courier learns nothing about
 * another courier's parcel from a deposit. (`/metrics` and the unit event log are closed by other changes.)
 */
describe('information leaks (real process)', () => {
  const redis = new TestRedis();
  beforeAll(() => redis.start());
  afterAll(() => redis.destroy());

  async function run(env: Record<string, string>): Promise<{ run: EntryProcess; base: string }> {
    const port = await freePort();
    const r = startEntry({ PORT: String(port), MQTT_PORT: String(await freePort()), REDIS_URL: redis.url, SIM_AUTOPILOT: 'off', ...env });
    await r.waitFor('locker-gateway is running');
    return { run: r, base: `http://127.0.0.1:${port}` };
  }
  async function stop(r: EntryProcess): Promise<void> {
    r.proc.kill('SIGTERM');
    expect(await r.exited).toBe(0);
  }
  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  describe('bound to a non-loopback HOST (0.0.0.0), development mode with simulators', () => {
    let gw: EntryProcess;
    let base = '';
    beforeAll(async () => ({ run: gw, base } = await run({ HOST: '0.0.0.0', REDIS_PREFIX: 'leak1:' })));
    afterAll(() => stop(gw));

    it('the simulators’ routes (screen with its presence code, a person’s actions) need the staff token', async () => {
      const look = await fetch(`${base}/dev/sims/LSN-0001`);
      expect(look.status).toBe(401);
      expect(((await look.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      expect((await post(`${base}/dev/sims/LSN-0001/actions`, { action: 'force', no: 1 }, {})).status).toBe(401);
      expect((await fetch(`${base}/dev/sims/LSN-0001`, { headers: STAFF })).status).toBe(200);
    });

    it('a courier depositing another courier’s tracking number is refused and told nothing about that parcel', async () => {
      const issue = async (name: string) => {
        const r = await post(`${base}/v1/admin/couriers`, { name, carrier: 'SF' }, STAFF);
        expect(r.status).toBe(201);
        return { authorization: `Bearer ${((await r.json()) as { token: string }).token}` };
      };
      const [first, other] = [await issue('First'), await issue('Other')];
      await eventually(async () => ((await (await fetch(`${base}/v1/units/LSN-0001`)).json()) as { online: boolean }).online, 10_000, 'LSN-0001 online');
      const deposit = { unit: 'LSN-0001', size: 'S', trackingNumber: 'SF7000000000001', carrier: 'SF', phone: '13800138000' };
      const mine = await post(`${base}/v1/deposits`, deposit, first);
      expect(mine.status).toBe(201);
      const parcel = (await mine.json()) as { id: string; compartment: number };
      // asked again by the same courier (a retry): the same parcel
      expect(((await (await post(`${base}/v1/deposits`, deposit, first)).json()) as { id: string }).id).toBe(parcel.id);

      const theirs = await post(`${base}/v1/deposits`, { ...deposit, phone: '13900139000' }, other);
      const text = await theirs.text();
      expect(theirs.status).toBe(409);
      expect(JSON.parse(text).error).toMatchObject({ code: 'conflict', message: expect.stringMatching(/cannot be deposited from your account/) });
      expect(text).not.toMatch(/locker|already|stored|reserved|LSN-0001|compartment/i);
      expect(text).not.toContain(parcel.id);
      // …nor can they follow it
      expect((await fetch(`${base}/v1/deposits/${parcel.id}`, { headers: other })).status).toBe(404);
    });
  });

  it('on the default loopback HOST the README’s walk-through reaches the simulators without a token', async () => {
    const { run: gw, base } = await run({ REDIS_PREFIX: 'leak2:' });
    try {
      expect((await fetch(`${base}/dev/sims/LSN-0001`)).status).toBe(200);
    } finally {
      await stop(gw);
    }
  });
});
