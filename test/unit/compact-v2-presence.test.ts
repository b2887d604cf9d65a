import { describe, expect, it } from 'vitest';
import { compactV2Topics } from '../../devices/compact-v2/codec.js';
import { CompactV2Driver } from '../../devices/compact-v2/driver.js';
import { UNITS } from '../../devices/units.js';
import type { DriverContext } from '../../src/bus/driver.js';
import type { UnitEvent } from '../../src/domain/model.js';
import { silentLogger } from '../../src/log.js';

const COMPACT_V2 = UNITS.find((u) => u.dialect === 'compact-v2')!;
const up = compactV2Topics.up(COMPACT_V2.id);
const heartbeat = (m: number) => Buffer.from(JSON.stringify({ t: 1, m, d: { up: 100 + m, rssi: -60 } }));
const lastWill = Buffer.from('{"t":0}');

/** A driver on a store (a fake: this is the driver's own logic) whose next `failures` presence writes fail. */
function driver() {
  const presences: boolean[] = [];
  const store = { failures: 0 };
  const ctx = {
    unit: COMPACT_V2,
    key: Buffer.alloc(32, 1),
    codeKey: Buffer.alloc(32),
    publish: async () => undefined,
    store: {
      apply: async (e: UnitEvent) => {
        if (e.kind === 'presence') {
          if (store.failures > 0) {
            store.failures--;
            throw new Error('Redis is down');
          }
          presences.push(e.online);
        }
        return { status: 'ok', streamId: '1-0' };
      },
      touch: async () => undefined,
      isOnline: async () => false,
      lastSeen: async () => null,
      reconcile: async () => [],
    },
    onEvent: () => undefined,
    counters: { inc: () => undefined },
    logger: silentLogger,
    now: () => Date.now(),
    timings: { HEARTBEAT_TIMEOUT_MS: 90_000, COMMAND_TTL_S: 1, COMMAND_CLOCK_SKEW_S: 0 },
    reserveCommandSlot: async () => 0,
  } as unknown as DriverContext;
  return { d: new CompactV2Driver(ctx), presences, store };
}

describe('compact-v2 presence: what the driver believes follows what the store has', () => {
  it('a unit back while its presence could not be written is written back when the message comes again', async () => {
    const { d, presences, store } = driver();
    store.failures = 1;
    await expect(d.handle(up, heartbeat(1))).rejects.toThrow('Redis is down');
    expect(presences).toEqual([]);
    // the broker delivers it again (not acknowledged), or the next heartbeat comes
    await d.handle(up, heartbeat(1));
    expect(presences).toEqual([true]);
    await d.handle(up, heartbeat(2));
    expect(presences).toEqual([true]);
  });

  it('a last will that could not be written leaves the unit online in the driver too, and the next one is written', async () => {
    const { d, presences, store } = driver();
    await d.handle(up, heartbeat(1));
    store.failures = 1;
    await expect(d.handle(up, lastWill)).rejects.toThrow('Redis is down');
    await d.handle(up, lastWill);
    expect(presences).toEqual([true, false]);
    await d.handle(up, heartbeat(2));
    expect(presences).toEqual([true, false, true]);
    await d.stop();
  });
});
