import { createHash } from 'node:crypto';
import type { Keys } from './keys.js';
import type { Check, Op } from './tx.js';

/**
 * The pickup-code index and the tracking-number index, as fields of shared hashes (issue 12: a string key of its
 * own cost ~104 – 136 bytes of key overhead per parcel; a field of a small hash ~40 – 50).
 *
 * Codes: one hash per unit, `codes:{unit}`, field = the first 32 hex digits (128 bits) of the code's keyed hash, value
 * = the compartment. A field's absence makes a new code unique at its unit (the CAS checks it, and the absence of
 * the string key `code:{unit}:{hash}` that the code before issue 12 wrote: a code issued before the upgrade still
 * opens its door until it is used, and no new code may take its hash).
 *
 * Tracking numbers: 256 hashes `trk:{bucket}`, bucket = the first byte of SHA-1 of the number as the console matches
 * it (trim, upper case), so that one bucket holds every carrier's parcels of one number; field = `carrier|number` as
 * deposited, value = the ids of every parcel still kept with that carrier and number, newest first, space-separated
 * (the first is the one a deposit is deduplicated against). The string key `tracking:{carrier}:{number}` that the
 * code before issue 12 wrote is still read when the field is absent, and deleted (its id carried into the field) when
 * the number is deposited again. Fields are removed by retention with their parcel (TRACKING_DROP), as the string
 * keys were.
 */
export const codeField = (hash: string): string => hash.slice(0, 32);

/**
 * Live parcels by phone: one zset per last 4 digits of the phone, `ptail:{last4}`, member `phone|id`, score its
 * creation time. It serves both the live parcels of a phone (the members with its prefix: a handful per key) and the
 * console's search by phone tail, which before issue 12 took a zset per phone (`phone-live:{phone}`) and the search
 * zset per tail: one member instead of two keys. Ended parcels leave it (and go to the search zset of their tail).
 */
export const phoneTailMember = (p: { phone: string; id: string }): string => `${p.phone}|${p.id}`;
export const phoneTail = (phone: string): string => phone.slice(-4);

/** Tracking numbers are matched whatever their case and surrounding blanks (the console's search). */
export const trackingKey = (tn: string): string => tn.trim().toUpperCase();

export const trackingBucket = (tn: string): string => createHash('sha1').update(trackingKey(tn)).digest('hex').slice(0, 2);
export const trackingField = (carrier: string, tn: string): string => `${carrier}|${tn}`;

/** What the tracking index held for a carrier and number when read: the hash field (new form) and the string key. */
export interface TrackingWas {
  ids: string | null;
  old: string | null;
}

/** The parcel a deposit of this carrier and number is deduplicated against. */
export const latestTracking = (w: TrackingWas): string | null => (w.ids ? (w.ids.split(' ')[0] ?? null) : w.old);

export const sameTracking = (a: TrackingWas, b: TrackingWas): boolean => a.ids === b.ids && a.old === b.old;

/** The CAS checks that a code hash is free at a unit (both forms). */
export function codeFreeChecks(k: Keys, unit: string, hash: string): Check[] {
  return [
    { key: k.codes(unit), field: codeField(hash), equals: null },
    { key: k.code(unit, hash), absent: true },
  ];
}

export function codeSetOps(k: Keys, unit: string, hash: string, compartment: number): Op[] {
  return [['HSET', k.codes(unit), codeField(hash), compartment]];
}

/** A code leaves the index: its field, and its string key if it was issued before issue 12. */
export function codeDelOps(k: Keys, unit: string, hash: string): Op[] {
  return [
    ['HDEL', k.codes(unit), codeField(hash)],
    ['DEL', k.code(unit, hash)],
  ];
}

/** The CAS checks that the tracking index still holds what the deposit read (both forms). */
export function trackingChecks(k: Keys, carrier: string, tn: string, was: TrackingWas): Check[] {
  return [
    { key: k.trackingBucket(trackingBucket(tn)), field: trackingField(carrier, tn), equals: was.ids },
    { key: k.tracking(carrier, tn), value: was.old },
  ];
}

/** A parcel deposited with this carrier and number: first in the field's ids; the string key's id moves into it. */
export function trackingSetOps(k: Keys, p: { id: string; carrier: string; trackingNumber: string }, was: TrackingWas): Op[] {
  const ids = [p.id, ...(was.ids ? was.ids.split(' ') : [])];
  if (was.old && !ids.includes(was.old)) ids.push(was.old);
  const ops: Op[] = [['HSET', k.trackingBucket(trackingBucket(p.trackingNumber)), trackingField(p.carrier, p.trackingNumber), ids.join(' ')]];
  if (was.old) ops.push(['DEL', k.tracking(p.carrier, p.trackingNumber)]);
  return ops;
}

/**
 * KEYS[1] a tracking bucket; ARGV[1] the field, ARGV[2] a parcel id. Adds the id to the field (ids kept newest
 * first: parcel ids are ULIDs, ordered by creation), unless it is there. For indexing parcels written before.
 */
export const TRACKING_ADD = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local ids = {}
if cur then
  for id in string.gmatch(cur, '%S+') do
    if id == ARGV[2] then return 0 end
    table.insert(ids, id)
  end
end
table.insert(ids, ARGV[2])
table.sort(ids, function(a, b) return a > b end)
redis.call('HSET', KEYS[1], ARGV[1], table.concat(ids, ' '))
return 1
`;

/** KEYS[1] a tracking bucket; ARGV[1] the field, ARGV[2] a parcel id. Removes the id; the field goes with its last. */
export const TRACKING_DROP = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local ids = {}
local found = 0
for id in string.gmatch(cur, '%S+') do
  if id == ARGV[2] then found = 1 else table.insert(ids, id) end
end
if found == 0 then return 0 end
if #ids == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], table.concat(ids, ' ')) end
return 1
`;
