/**
 * Redis memory per parcel, live state and evidence apart. Prints figures; never a test.
 *
 *   npx tsx bench/memory.ts            # 300 parcels (one day of the community's collections)
 *   npx tsx bench/memory.ts --parcels 2000
 *
 * Runs whole lifecycles through the real ParcelService, UnitStore, CommandBus and evidence log on a redis-server of
 * its own (no MQTT: a stand-in driver answers every command 'done'), then measures with MEMORY USAGE, key by key:
 *   1. with every parcel stored (waiting in its compartment): the live state per stored parcel;
 *   2. with every parcel collected: the evidence per lifecycle (chains, indexes, checkpoints) and what an ended
 *      parcel keeps until retention trims it.
 * The notification outbox is left out (the relay empties it within milliseconds in the gateway).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { UNITS } from '../devices/units.js';
import { Evidence } from '../src/evidence/index.js';
import { silentLogger } from '../src/log.js';
import { closeOnParcels, collectAll, depositRound, standInParcels, storedCodes, unitsReady } from '../test/support/parcel-service.js';
import { TestRedis } from '../test/support/redis.js';
import { keyBytes, perKind } from './memory-keys.js';

const { values: opt } = parseArgs({ options: { parcels: { type: 'string', default: '300' } } });
const N = Number(opt.parcels);
const PREFIX = 'mem:';

const server = await new TestRedis().start();
const redis = new Redis(server.url);
const codeKey = randomBytes(32);
const { log, store, couriers, service } = standInParcels(redis, PREFIX, codeKey);
const evidence = new Evidence(log, { redis, prefix: PREFIX, secret: codeKey, clock: { now: Date.now }, logger: silentLogger, retentionDays: 180 });
await unitsReady(store);
const { courier } = await couriers.issue({ name: 'Bench', carrier: 'SF' });

const bytes = () => keyBytes(redis, PREFIX);
const baseline = await bytes();

// Deposits across the three units until N are stored (compartments are reused once collected: do it in rounds).
let stored = 0;
const codes = new Map<string, string>();
let phone = 13900000000;
let report: Map<string, number> | null = null;
let storedCount = 0;
while (stored < N) {
  const round = await depositRound(service, courier, N - stored, { tracking: (i) => `M${stored + i}`, phone: () => String(phone++) });
  await closeOnParcels(service, round);
  stored += round.length;
  if (!report) {
    report = await bytes();
    storedCount = round.length;
  }
  await storedCodes(redis, `${PREFIX}outbox`, '-', codes);
  await redis.del(`${PREFIX}outbox`);
  await collectAll(service, codeKey, round, codes);
}
await evidence.checkpoints.takeAll();
await redis.del(`${PREFIX}outbox`);
const after = await bytes();
const sum = (rows: [string, number][]) => rows.reduce((s, [, v]) => s + v, 0);

const live = perKind(report!, baseline, storedCount, (k) => k.startsWith('live'));
const ev = perKind(after, baseline, N, (k) => k.startsWith('evidence'));
const ended = perKind(after, baseline, N, (k) => k.startsWith('live'));
console.log(`parcels: ${N} lifecycles (deposit, door, stored, code at the keypad, door, collected); redis-server ${(await redis.info('server')).match(/redis_version:(\S+)/)?.[1]}`);
console.log(`\nlive state per STORED parcel (${storedCount} stored at once): ${sum(live).toFixed(0)} B`);
for (const [k, v] of live) console.log(`  ${k.padEnd(28)} ${v.toFixed(0).padStart(6)} B`);
console.log(`\nevidence per lifecycle: ${sum(ev).toFixed(0)} B (${(await redis.xlen(`${PREFIX}evidence:unit:${UNITS[0]!.id}`)) > 0 ? 'chains verified below' : ''})`);
for (const [k, v] of ev) console.log(`  ${k.padEnd(28)} ${v.toFixed(0).padStart(6)} B`);
console.log(`\nwhat an ENDED parcel keeps until retention trims it: ${sum(ended).toFixed(0)} B`);
for (const [k, v] of ended) console.log(`  ${k.padEnd(28)} ${v.toFixed(0).padStart(6)} B`);
const v = await evidence.verifier.verifyAll();
console.log(`\nchains: ${v.map((r) => `${r.chain} ${r.ok ? 'ok' : 'BROKEN'} (${r.checked})`).join(', ')}`);
redis.disconnect();
await server.destroy();
