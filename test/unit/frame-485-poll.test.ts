import { afterEach, describe, expect, it, vi } from 'vitest';
import { Frame485Driver, pollPhase } from '../../devices/frame-485/driver.js';
import { CMD, encodeFrame, frame485Topics } from '../../devices/frame-485/codec.js';
import { UNITS } from '../../devices/units.js';
import type { DriverContext } from '../../src/bus/driver.js';
import { silentLogger } from '../../src/log.js';

const FRAME_485 = UNITS.find((u) => u.dialect === 'frame-485')!;

/** IMEIs shaped like the bench's synthetic frame-485 units (bench/e2e/units.ts). */
const fleet = (n: number) => Array.from({ length: n }, (_, i) => `86999${String(3 * i + 3).padStart(10, '0')}`);

describe('frame-485 interval polls: each unit at a phase of its own', () => {
  it('the phase is stable per unit and inside the interval', () => {
    for (const id of [FRAME_485.id, ...fleet(50)]) {
      const p = pollPhase(id, 5_000);
      expect(p).toBe(pollPhase(id, 5_000));
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(5_000);
    }
    expect(pollPhase(FRAME_485.id, 1)).toBe(0);
  });

  it("333 units' polls spread over the interval: no tenth of it holds twice its share", () => {
    const slices = new Array<number>(10).fill(0);
    for (const id of fleet(333)) slices[Math.floor(pollPhase(id, 5_000) / 500)]!++;
    expect(Math.max(...slices)).toBeLessThanOrEqual(2 * (333 / 10));
    expect(Math.min(...slices)).toBeGreaterThan(0);
  });
});

describe('frame-485 driver timing (fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /**
   * A driver whose boards answer only when the test hands it their bytes, counting the requests it puts on the bus
   * and its bus timeouts; `touching` holds up the handling of DTU bytes (a gateway slow to get to them).
   */
  function driver(id: string, every: number, touching: () => Promise<void> = async () => undefined) {
    const sent: number[] = [];
    const timeouts: string[] = [];
    const ctx = {
      unit: { ...FRAME_485, id },
      key: null,
      codeKey: Buffer.alloc(32),
      publish: async (topic: string) => {
        if (topic === frame485Topics.tx(id)) sent.push(Date.now());
      },
      store: {
        unit: async () => null,
        apply: async () => ({ status: 'ok', streamId: '1-0' }),
        touch: touching,
        reconcile: async () => [],
      },
      onEvent: () => undefined,
      counters: {
        inc: (name: string, labels: { board?: string }) => {
          if (name === 'lg_bus_timeouts_total') timeouts.push(labels.board ?? '');
        },
      },
      logger: silentLogger,
      now: () => Date.now(),
      timings: { POLL_INTERVAL_MS: every, BUS_TIMEOUT_MS: 10 },
    } as unknown as DriverContext;
    return { d: new Frame485Driver(ctx), sent, timeouts };
  }

  it("a DTU coming online is polled at once; the interval polls start at the unit's phase, then every interval", async () => {
    vi.useFakeTimers({ now: 0 });
    const every = 100_000;
    const id = fleet(50).find((u) => pollPhase(u, every) > 1_000)!;
    const phase = pollPhase(id, every);
    const { d, sent } = driver(id, every);
    d.start();
    await d.handle(frame485Topics.state(id), Buffer.from('1'));
    await vi.advanceTimersByTimeAsync(100);
    // both boards at once (one after the other on the bus: the first unanswered after 10 ms)
    expect(sent).toEqual([0, 10]);
    await vi.advanceTimersByTimeAsync(phase - 101);
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent.slice(2)).toEqual([phase, phase + 10]);
    await vi.advanceTimersByTimeAsync(every);
    expect(sent.slice(4)).toEqual([phase + every, phase + every + 10]);
    await d.stop();
    await vi.advanceTimersByTimeAsync(3 * every);
    expect(sent).toHaveLength(6);
  });

  it('an answer that is in but not handled yet when the time is up gets one more BUS_TIMEOUT_MS (the gateway was late, not the board)', async () => {
    vi.useFakeTimers({ now: 0 });
    const id = FRAME_485.id;
    let release = () => {};
    let slow = false;
    const { d, sent, timeouts } = driver(id, 3_600_000, () => (slow ? new Promise<void>((r) => (release = r)) : Promise.resolve()));
    d.start();
    await d.handle(frame485Topics.state(id), Buffer.from('1'));
    expect(sent).toEqual([0]);
    // board 1's answer arrives at 5 ms (queued by the intake); the gateway gets to it only at 15 ms, after the 10 ms
    slow = true;
    await vi.advanceTimersByTimeAsync(5);
    d.arrived(frame485Topics.rx(id));
    const handled = d.handle(frame485Topics.rx(id), encodeFrame(0x01, CMD.status, [0, 0, 0, 0]));
    await vi.advanceTimersByTimeAsync(10);
    expect(timeouts).toEqual([]);
    await vi.advanceTimersByTimeAsync(50); // and on, while its bytes wait (up to 10 BUS_TIMEOUT_MS in all)
    expect(timeouts).toEqual([]);
    release();
    await handled;
    // board 1 answered: board 2 is asked next, and it really is silent (nothing in): it times out on time
    expect(sent).toEqual([0, 65]);
    await vi.advanceTimersByTimeAsync(10);
    expect(timeouts).toEqual(['2']);
    await d.stop();
  });
});
