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
import { CommandBus } from '../src/bus/commands.js';
import type { Driver } from '../src/bus/driver.js';
import { codeHash, maskCode } from '../src/domain/codes.js';
import type { CommandResult } from '../src/domain/model.js';
import { Evidence, EvidenceLog } from '../src/evidence/index.js';
import { silentLogger } from '../src/log.js';
import { Counters } from '../src/metrics.js';
import { Couriers, Residents } from '../src/parcels/accounts.js';
import { ParcelService } from '../src/parcels/service.js';
import { parcelPolicy } from '../src/runtime/gateway.js';
import { parseConfig } from '../src/config/config.js';
import { ParcelStore } from '../src/store/parcels.js';
import { UnitStore } from '../src/store/units.js';
import { TestRedis } from '../test/support/redis.js';
import { keyBytes, kindOf } from './memory-keys.js';

const { values: opt } = parseArgs({ options: { parcels: { type: 'string', default: '300' } } });
const N = Number(opt.parcels);
const PREFIX = 'mem:';

const server = await new TestRedis().start();
const redis = new Redis(server.url);
const counters = new Counters();
const codeKey = randomBytes(32);
const log = new EvidenceLog(redis, PREFIX);
const evidence = new Evidence(log, { redis, prefix: PREFIX, secret: codeKey, clock: { now: Date.now }, logger: silentLogger, retentionDays: 180 });
const store = new UnitStore(redis, PREFIX, UNITS, log);
const parcels = new ParcelStore(redis, PREFIX, log);
const done = async (): Promise<CommandResult> => 'done';
const drivers = new Map<string, Driver>(UNITS.map((u) => [u.id, { execute: done } as unknown as Driver]));
const commands = new CommandBus({ redis, prefix: PREFIX, drivers, store, logger: silentLogger, counters, timeoutMs: 1000 });
const couriers = new Couriers(redis, parcels.k);
const service = new ParcelService({
  parcels,
  unitStore: store,
  commands,
  couriers,
  residents: new Residents(redis, parcels.k),
  codeKey,
  policy: { ...parcelPolicy(parseConfig({})), presenceCodes: false },
  logger: silentLogger,
  counters,
});
for (const u of UNITS) {
  await store.apply({ unit: u.id, at: Date.now(), source: {}, kind: 'presence', online: true });
  await store.reconcile({ unit: u.id, at: Date.now(), source: {}, compartments: u.compartments.map((c) => ({ compartment: c.no, doorOpen: false, occupied: false })) });
}
const { courier } = await couriers.issue({ name: 'Bench', carrier: 'SF' });

const bytes = (match: (key: string) => string | null) => keyBytes(redis, PREFIX, match);
const baseline = await bytes(kindOf);

// Deposits across the three units until N are stored (compartments are reused once collected: do it in rounds).
let stored = 0;
const codes = new Map<string, string>();
const round: { id: string; unit: string; no: number }[] = [];
let phone = 13900000000;
const outboxCodes = async () => {
  for (const [, f] of await redis.xrange(`${PREFIX}outbox`, '-', '+')) {
    const n = JSON.parse(f[3] ?? '{}') as { kind?: string; parcelId?: string; params?: { code?: string } };
    if (n.kind === 'stored' && n.parcelId && n.params?.code) codes.set(n.parcelId, n.params.code);
  }
};
let report: Map<string, number> | null = null;
let storedCount = 0;
while (stored < N) {
  round.length = 0;
  for (const u of UNITS) {
    for (let i = 0; i < u.compartments.length && stored + round.length < N; i++) {
      const p = await service.deposit(courier, { unit: u.id, size: 'S', trackingNumber: `M${stored + round.length}`, carrier: 'SF', phone: String(phone++), shareCompartment: false }).catch(() => null);
      if (!p) break;
      round.push({ id: p.id, unit: p.unit, no: p.compartment });
    }
  }
  for (const p of round) {
    await service.onUnitEvent({ streamId: '0-1', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-opened', compartment: p.no } });
    await service.onUnitEvent({ streamId: '0-2', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-closed', compartment: p.no, occupied: true } });
  }
  stored += round.length;
  if (!report) {
    report = await bytes(kindOf);
    storedCount = round.length;
  }
  await outboxCodes();
  await redis.del(`${PREFIX}outbox`);
  for (const [i, p] of round.entries()) {
    const code = codes.get(p.id)!;
    await service.onUnitEvent({ streamId: `1-${i}`, event: { unit: p.unit, at: Date.now(), source: {}, kind: 'code-entered', code: maskCode(code), codeHash: codeHash(codeKey, p.unit, code) } });
    await service.onUnitEvent({ streamId: '0-3', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-opened', compartment: p.no } });
    await service.onUnitEvent({ streamId: '0-4', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-closed', compartment: p.no, occupied: false } });
  }
}
await evidence.checkpoints.takeAll();
await redis.del(`${PREFIX}outbox`);
const after = await bytes(kindOf);
const per = (m: Map<string, number>, n: number, filter: (k: string) => boolean) =>
  [...m.entries()].filter(([k]) => filter(k)).map(([k, v]) => [k, (v - (baseline.get(k) ?? 0)) / n] as const);
const sum = (rows: (readonly [string, number])[]) => rows.reduce((s, [, v]) => s + v, 0);

const live = per(report!, storedCount, (k) => k.startsWith('live'));
const ev = per(after, N, (k) => k.startsWith('evidence'));
const ended = per(after, N, (k) => k.startsWith('live'));
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
