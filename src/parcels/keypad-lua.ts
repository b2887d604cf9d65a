import type { Redis } from 'ioredis';
import type { Parcel, Slot } from '../domain/parcel.js';
import { CODE_SLOT_FN, ParcelStore, SLOT_WITH_PARCELS_FN } from '../store/parcels.js';
import { LIMIT_ADMIT_FN } from './limits.js';

/**
 * A code typed at a keypad, read in one round trip: the keypad's limiter (limits.ts) admits the attempt, and only
 * then the code index is read (store/parcels.ts, lg_code_slot) and, for a known code, its compartment's slot and
 * parcels (lg_slot_with_parcels). Before, these were the limiter's script, a GET and the slot's read script.
 *
 * KEYS: 1–3 the limiter's, 4… the code's (ParcelStore.codeKeys). ARGV: 1–4 the limiter's, 5 the unit's slot key
 * prefix, 6 the parcel key prefix, 7 the code's field in the unit's code hash (ParcelStore.codeField). Answers {limiter answer} (not admitted, or admitted and no such code), or
 * {0, compartment, {slot flat, parcel flat…}}.
 */
const KEYPAD_READ = `${LIMIT_ADMIT_FN}${CODE_SLOT_FN}${SLOT_WITH_PARCELS_FN}
local r = lg_limit_admit(KEYS, ARGV)
if r ~= 0 then return {r} end
local ck = {}
for i = 4, #KEYS do ck[#ck + 1] = KEYS[i] end
local no = lg_code_slot(ck, ARGV[7])
if not no then return {0} end
return {0, no, lg_slot_with_parcels(ARGV[5] .. no, ARGV[6])}
`;

type WithKeypadRead = Redis & { lgKeypadRead(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, number?, string[][]?]> };

/** What a code leads to: its compartment and that compartment's slot and parcels (null: no slot), or null: no such code. */
export type CodeFound = { no: number; cur: { slot: Slot; parcels: Parcel[] } | null } | null;

/**
 * Defines the script on the connection. Called when the parcel service is built, before any traffic: a script
 * defined while an auto-pipeline of the same tick is open is missing from that pipeline (ioredis issue #1931).
 */
export function defineKeypadRead(redis: Redis): void {
  if (!('lgKeypadRead' in redis)) redis.defineCommand('lgKeypadRead', { lua: KEYPAD_READ });
}

/** The keypad's read (above), as a step for FailureLimiter.admitWith. */
export function keypadRead(store: ParcelStore, unit: string, hash: string) {
  const redis = store.redis as WithKeypadRead;
  defineKeypadRead(redis);
  return async (limiterKeys: string[], limiterArgs: (string | number)[]): Promise<[number, CodeFound]> => {
    const codeKeys = store.codeKeys(unit, hash);
    const [r, no, flats] = await redis.lgKeypadRead(
      limiterKeys.length + codeKeys.length,
      ...limiterKeys,
      ...codeKeys,
      ...limiterArgs,
      store.slotKeyPrefix(unit),
      store.k.parcel(''),
      store.codeField(hash),
    );
    if (no === undefined || flats === undefined) return [Number(r), null];
    return [Number(r), { no: Number(no), cur: ParcelStore.slotWithParcelsOf(flats) }];
  };
}
