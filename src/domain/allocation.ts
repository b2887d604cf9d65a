import type { CompartmentState, Size, UnitProfile } from './model.js';
import { SIZES } from './model.js';

export const sizeRank = (s: Size): number => SIZES.indexOf(s);

/** A compartment can take a parcel when it is closed, empty, healthy, in service and not already allocated. */
export function isFree(c: CompartmentState, allocated: ReadonlySet<number>): boolean {
  return !c.doorOpen && !c.occupied && !c.fault && !c.outOfService && !allocated.has(c.no);
}

/**
 * Candidate compartments for a parcel of `size`, best first: the smallest size that fits; among equals, low
 * compartments first for a resident who asked for them, then by number. The caller reserves the first one that is
 * still free at reservation time (atomically), so a stale view never gives a compartment to two parcels.
 */
export function candidates(
  compartments: readonly CompartmentState[],
  allocated: ReadonlySet<number>,
  size: Size,
  opts: { preferLow: boolean; low: readonly number[] },
): number[] {
  const low = new Set(opts.low);
  return compartments
    .filter((c) => sizeRank(c.size) >= sizeRank(size) && isFree(c, allocated))
    .sort((a, b) => {
      const bySize = sizeRank(a.size) - sizeRank(b.size);
      if (bySize) return bySize;
      if (opts.preferLow) {
        const byLow = Number(low.has(b.no)) - Number(low.has(a.no));
        if (byLow) return byLow;
      }
      return a.no - b.no;
    })
    .map((c) => c.no);
}

/** Great-circle distance in metres, for "the nearest unit that has room". */
export function distanceM(a: UnitProfile['location'], b: UnitProfile['location']): number {
  const R = 6_371_000;
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return Math.round(2 * R * Math.asin(Math.sqrt(h)));
}

/** Other units ordered by distance from `from`. */
export function nearestUnits(from: UnitProfile, units: readonly UnitProfile[]): { unit: UnitProfile; distanceM: number }[] {
  return units
    .filter((u) => u.id !== from.id)
    .map((unit) => ({ unit, distanceM: distanceM(from.location, unit.location) }))
    .sort((a, b) => a.distanceM - b.distanceM);
}
