import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandBus } from '../../src/bus/commands.js';
import type { CommandRecord } from '../../src/domain/model.js';
import { RemoteCommands, remoteKeys } from '../../src/scale/remote-commands.js';
import { TestRedis } from '../support/redis.js';
import { eventually, logger } from '../support/stack.js';

/**
 * A door command handed to the gateway that serves the unit (src/scale/remote-commands.ts), on a real Redis. When no
 * owner takes it in time the asking gateway gives it up first, so it is never run late, and says so: `not_sent`,
 * which a deposit reads as "the door cannot open" (it gives the compartment back) where `timed_out` means "it may".
 */
let redis: TestRedis;
const conns: Redis[] = [];
const stops: (() => Promise<void>)[] = [];
let n = 0;

beforeAll(async () => {
  redis = await new TestRedis().start();
});
afterAll(async () => {
  for (const s of stops) await s();
  for (const c of conns) c.disconnect();
  await redis?.destroy();
});

function conn(): Redis {
  const c = new Redis(redis.url);
  conns.push(c);
  return c;
}

/** The command bus of the unit's owner, as far as the owner's side of RemoteCommands uses it: what it was asked to run. */
function ownerBus(ran: string[]): CommandBus {
  return {
    send: async (unit: string, op: CommandRecord['args'], opts: { id: string }) => {
      ran.push(opts.id);
      return { id: opts.id, unit, op: op.op, args: op, state: 'done', result: 'done', createdAt: Date.now(), finishedAt: Date.now() } satisfies CommandRecord;
    },
  } as unknown as CommandBus;
}

async function remote(prefix: string, gatewayId: string, owned: string[], ran: string[], timeoutMs: number): Promise<RemoteCommands> {
  const r = new RemoteCommands({
    redis: conn(),
    connection: conn,
    prefix,
    gatewayId,
    commands: () => ownerBus(ran),
    owned: () => owned,
    holds: (unit) => owned.includes(unit),
    timeoutMs,
    logger,
  });
  await r.start();
  stops.push(() => r.stop());
  return r;
}

describe('remote commands: a command nobody serving the unit took', () => {
  it('is answered not_sent (not timed_out) and is never run, even by an owner that comes later', async () => {
    const prefix = `rc${n++}:`;
    const ran: string[] = [];
    const asker = await remote(prefix, 'gw-a', [], ran, 300);
    const rec = await asker.send('LSN-0001', { op: 'open', compartment: 3 }, { id: 'deposit-p_1' });
    expect(rec).toMatchObject({ id: 'deposit-p_1', state: 'failed', result: 'not_sent' });

    // An owner starts serving the unit afterwards: it reads the request, finds it given up, and does not run it.
    await remote(prefix, 'gw-b', ['LSN-0001'], ran, 300);
    const k = remoteKeys(prefix);
    const r = conn();
    await eventually(async () => (await r.xlen(k.stream('LSN-0001'))) === 0, 10_000, 'request read and dropped by the owner');
    expect(ran).toEqual([]);
  });

  it('an owner that serves the unit runs it and answers with its record', async () => {
    const prefix = `rc${n++}:`;
    const ran: string[] = [];
    await remote(prefix, 'gw-b', ['LSN-0001'], ran, 2000);
    const asker = await remote(prefix, 'gw-a', [], ran, 2000);
    const rec = await asker.send('LSN-0001', { op: 'open', compartment: 4 }, { id: 'deposit-p_2' });
    expect(rec).toMatchObject({ id: 'deposit-p_2', result: 'done' });
    expect(ran).toEqual(['deposit-p_2']);
  });
});
