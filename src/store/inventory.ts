import type { Redis } from 'ioredis';
import type { Parcel, Slot } from '../domain/parcel.js';
import type { Keys } from './keys.js';
import { decodeSlot, readParcels } from './records.js';

export interface SlotWithParcels {
  slot: Slot;
  parcels: Parcel[];
}

/**
 * Batched reads for the staff console: every allocated compartment of a unit with its parcels, and every live
 * parcel, in a few round trips (the overview and the audit read all of them on each render).
 */
export class InventoryReader {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
  ) {}

  /** Allocated compartments of each unit: compartment number -> slot and parcels. */
  async slots(units: readonly string[]): Promise<Map<string, Map<number, SlotWithParcels>>> {
    const pipe = this.redis.pipeline();
    for (const u of units) pipe.smembers(this.k.slots(u));
    const nos = ((await pipe.exec()) ?? []).map(([, r]) => ((r as string[] | null) ?? []).map(Number));
    const slotPipe = this.redis.pipeline();
    units.forEach((u, i) => nos[i]!.forEach((no) => slotPipe.hgetall(this.k.slot(u, no))));
    const slotRows = ((await slotPipe.exec()) ?? []).map(([, h]) => decodeSlot(h as Record<string, string>));
    const slots = slotRows.filter((s): s is Slot => s !== null);
    const parcels = await this.parcels([...new Set(slots.flatMap((s) => s.parcels))]);
    const byId = new Map(parcels.map((p) => [p.id, p]));
    const out = new Map<string, Map<number, SlotWithParcels>>(units.map((u) => [u, new Map()]));
    for (const s of slots) {
      out.get(s.unit)?.set(s.compartment, { slot: s, parcels: s.parcels.map((id) => byId.get(id)).filter((p): p is Parcel => p !== undefined) });
    }
    return out;
  }

  /** Every live parcel (those holding a compartment), oldest first. */
  async liveParcels(limit = 5000): Promise<Parcel[]> {
    return this.parcels(await this.redis.zrange(this.k.live, 0, limit - 1));
  }

  async parcels(ids: readonly string[]): Promise<Parcel[]> {
    return readParcels(this.redis, this.k, ids);
  }
}
