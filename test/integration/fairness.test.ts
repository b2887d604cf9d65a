/**
 * Attack "One unit starves the others" of issue 7: 20,000 messages from one unit delayed another unit's reply by
 * 2.35 s. Each unit's messages now wait in a queue of their own, so a flood from one unit does not hold up another;
 * each unit's order is kept and a QoS 1 message is acknowledged only once stored.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { Stack, eventually } from '../support/stack.js';

const FLOODER = UNITS.find((u) => u.dialect === 'compact-v2')!;
const OTHER = UNITS.find((u) => u.dialect === 'json-v1')!;

// Through Mosquitto the flood is smaller: the point there is that none of it is lost at the broker (its default
// queue of 1,000 messages per session dropped the rest), and Mosquitto is slower in this test.
describe.each([
  ['embedded', 5_000],
  ['mosquitto', 3_000],
] as const)('a flood from one unit, through the %s broker', (broker, FLOOD) => {
  const stack = new Stack(broker, { HEARTBEAT_TIMEOUT_MS: '600000' });
  beforeAll(async () => {
    await stack.start();
    await stack.sim(OTHER.id);
    await eventually(async () => (await stack.unit(OTHER.id)).online, 5000, 'online');
  });
  afterAll(() => stack.stop());

  it(`${FLOOD.toLocaleString('en')} heartbeats from ${FLOODER.id} do not hold up the reply of ${OTHER.id}; none is lost`, async () => {
    const redis = stack.redis.client();
    onTestFinished(() => redis.disconnect());
    const progress = () => stack.gw!.counters.get('lg_unit_messages_total', { unit: FLOODER.id });
    const rssi = (i: number) => -(i % 150);
    const flooder = await stack.connectAsUnit(FLOODER.id);
    const topic = `cab/${FLOODER.id}/up`;
    const sent = Promise.all(
      Array.from({ length: FLOOD }, (_, i) =>
        flooder.publishAsync(topic, JSON.stringify({ t: 1, m: (i % 65535) + 1, d: { up: i, rssi: rssi(i) } }), { qos: 1 }),
      ),
    );
    await eventually(async () => (await progress()) >= 500, 20_000, 'the flood being handled');

    const t0 = Date.now();
    const reply = await stack.gw!.bus.commands.send(OTHER.id, { op: 'display', text: 'hello', seconds: 1 });
    const latency = Date.now() - t0;
    const handled = await progress();
    if (process.env.TEST_PRINT_MEASUREMENTS) console.log({ latency, handled });
    expect(reply.result).toBe('done');
    expect(handled, 'the flood was still being handled when the reply came').toBeLessThan(FLOOD);
    expect(latency, `reply after ${latency} ms with ${handled} of the flood handled`).toBeLessThan(500);

    await sent;
    // Every message of the flood was handled, the last one sent last.
    await eventually(async () => (await progress()) === FLOOD, 60_000, 'the whole flood handled');
    expect(Number(await redis.hget(`lg:unit:${FLOODER.id}`, 'rssi'))).toBe(rssi(FLOOD - 1));
  }, 90_000);
});
