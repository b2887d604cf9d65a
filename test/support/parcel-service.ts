import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { CommandBus } from '../../src/bus/commands.js';
import type { Driver } from '../../src/bus/driver.js';
import { OpenGuard } from '../../src/bus/open-guard.js';
import { parseConfig } from '../../src/config/config.js';
import { codeHash, maskCode } from '../../src/domain/codes.js';
import type { CommandResult, UnitProfile } from '../../src/domain/model.js';
import { EvidenceLog } from '../../src/evidence/index.js';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';
import { Couriers, Residents, type Courier } from '../../src/parcels/accounts.js';
import { ParcelService } from '../../src/parcels/service.js';
import { parcelPolicy } from '../../src/runtime/gateway.js';
import { ParcelStore } from '../../src/store/parcels.js';
import { UnitStore } from '../../src/store/units.js';

/**
 * The real ParcelService, UnitStore, CommandBus and evidence log on a Redis of the caller's, without MQTT: a stand-in
 * driver answers every command 'done' at once; presence codes off. Shared by test/integration/store-indexes.test.ts,
 * round-trips.test.ts and bench/memory.ts, bench/relay.ts. No side effects on import.
 */
export function standInParcels(redis: Redis, prefix: string, codeKey: Buffer, o: { openGuard?: boolean } = {}) {
  const counters = new Counters();
  const log = new EvidenceLog(redis, prefix);
  const store = new UnitStore(redis, prefix, UNITS, log);
  const parcels = new ParcelStore(redis, prefix, log);
  const done = async (): Promise<CommandResult> => 'done';
  const drivers = new Map<string, Driver>(UNITS.map((u) => [u.id, { execute: done } as unknown as Driver]));
  // openGuard: opens pass the real guard (lockdowns, rate windows), with limits no test reaches
  const limits = { perUnit: 100, fleet: 100, unexplainedPerUnit: 100, unexplainedFleet: 100 };
  const opens = o.openGuard ? new OpenGuard({ redis, prefix, evidence: log, units: UNITS, limits, counters, logger: silentLogger, now: () => Date.now() }) : undefined;
  const commands = new CommandBus({ redis, prefix, drivers, store, logger: silentLogger, counters, timeoutMs: 1000, ...(opens ? { opens } : {}) });
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
  return { counters, log, store, parcels, commands, couriers, service };
}

/** The units online, every compartment closed and empty. */
export async function unitsReady(store: UnitStore, units: readonly UnitProfile[] = UNITS): Promise<void> {
  for (const u of units) {
    await store.apply({ unit: u.id, at: Date.now(), source: {}, kind: 'presence', online: true });
    await store.reconcile({ unit: u.id, at: Date.now(), source: {}, compartments: u.compartments.map((c) => ({ compartment: c.no, doorOpen: false, occupied: false })) });
  }
}

/** The pickup codes in the outbox's 'stored' notices, by parcel id (the latest wins), from stream id `start` on. */
export async function storedCodes(redis: Redis, outbox: string, start = '-', into = new Map<string, string>()): Promise<Map<string, string>> {
  for (const [, f] of await redis.xrange(outbox, start, '+')) {
    const n = JSON.parse(f[3] ?? '{}') as { kind?: string; parcelId?: string; params?: { code?: string } };
    if (n.kind === 'stored' && n.parcelId && n.params?.code) into.set(n.parcelId, n.params.code);
  }
  return into;
}

/** A parcel placed by depositRound: its id, unit and compartment. */
export interface Placed {
  id: string;
  unit: string;
  no: number;
}

/**
 * One deposit (size S, carrier SF) per free compartment across `units`, `max` at the most; a refused deposit ends that
 * unit's turn. `tracking(i)` and `phone()` name the i-th parcel of the round.
 */
export async function depositRound(
  service: ParcelService,
  courier: Courier,
  max: number,
  name: { tracking: (i: number) => string; phone: () => string },
  units: readonly UnitProfile[] = UNITS,
): Promise<Placed[]> {
  const round: Placed[] = [];
  for (const u of units) {
    for (let i = 0; i < u.compartments.length && round.length < max; i++) {
      const p = await service.deposit(courier, { unit: u.id, size: 'S', trackingNumber: name.tracking(round.length), carrier: 'SF', phone: name.phone(), shareCompartment: false }).catch(() => null);
      if (!p) break;
      round.push({ id: p.id, unit: p.unit, no: p.compartment });
    }
  }
  return round;
}

/** Each door opened and closed on its parcel: stored (the 'stored' notice with the pickup code goes to the outbox). */
export async function closeOnParcels(service: ParcelService, round: readonly Placed[]): Promise<void> {
  for (const p of round) {
    await service.onUnitEvent({ streamId: '0-1', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-opened', compartment: p.no } });
    await service.onUnitEvent({ streamId: '0-2', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-closed', compartment: p.no, occupied: true } });
  }
}

/** Each parcel's code (from `codes`) at the keypad, its door opened and closed empty: collected. */
export async function collectAll(service: ParcelService, codeKey: Buffer, round: readonly Placed[], codes: ReadonlyMap<string, string>): Promise<void> {
  for (const [i, p] of round.entries()) {
    const code = codes.get(p.id)!;
    await service.onUnitEvent({ streamId: `1-${i}`, event: { unit: p.unit, at: Date.now(), source: {}, kind: 'code-entered', code: maskCode(code), codeHash: codeHash(codeKey, p.unit, code) } });
    await service.onUnitEvent({ streamId: '0-3', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-opened', compartment: p.no } });
    await service.onUnitEvent({ streamId: '0-4', event: { unit: p.unit, at: Date.now(), source: {}, kind: 'door-closed', compartment: p.no, occupied: false } });
  }
}
