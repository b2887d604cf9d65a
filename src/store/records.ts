import type { Redis } from 'ioredis';
import type { Lang, Parcel, ParcelState, Slot } from '../domain/parcel.js';
import type { Size } from '../domain/model.js';
import type { Keys } from './keys.js';

/**
 * How parcels and slots are stored: one short hash field per attribute, so that the hash stays listpack-encoded
 * (every value ≤ 64 bytes, Redis' `hash-max-listpack-value`) instead of a JSON document in a field, which made each
 * hash a hashtable: 689 → ~300 bytes a parcel, 526 → ~250 a slot (bench/memory.ts, issue 12).
 *
 * A null attribute has no field. `v` (the version the commit checks) and `state` keep their names. Records written
 * before (a `j` field holding the JSON, plus `v` and `state`) still load: `j` wins when present, and the next write
 * replaces the whole hash (DEL + HSET in the same atomic step).
 */
export const PARCEL_FIELD = {
  id: 'id',
  unit: 'u',
  compartment: 'c',
  size: 'sz',
  phone: 'ph',
  name: 'nm',
  room: 'rm',
  lang: 'la',
  trackingNumber: 'tn',
  carrier: 'ca',
  courierId: 'co',
  createdAt: 'cr',
  storedAt: 'st',
  deadline: 'dl',
  endedAt: 'en',
  extended: 'ex',
  reason: 're',
} as const;
const PARCEL_KNOWN = new Set<string>([...Object.keys(PARCEL_FIELD), 'state', 'v']);

/** HSET arguments (field, value, …) of a parcel; `v` is the version to store. */
export function parcelFields(p: Parcel, v: number): (string | number)[] {
  const out: (string | number)[] = ['v', v, 'state', p.state, PARCEL_FIELD.id, p.id, PARCEL_FIELD.unit, p.unit, PARCEL_FIELD.compartment, p.compartment, PARCEL_FIELD.size, p.size, PARCEL_FIELD.phone, p.phone];
  const opt = (f: string, x: string | number | null | undefined) => {
    if (x !== null && x !== undefined) out.push(f, x);
  };
  opt(PARCEL_FIELD.name, p.name);
  opt(PARCEL_FIELD.room, p.room);
  out.push(PARCEL_FIELD.lang, p.lang, PARCEL_FIELD.trackingNumber, p.trackingNumber, PARCEL_FIELD.carrier, p.carrier, PARCEL_FIELD.courierId, p.courierId, PARCEL_FIELD.createdAt, p.createdAt);
  opt(PARCEL_FIELD.storedAt, p.storedAt);
  opt(PARCEL_FIELD.deadline, p.deadline);
  opt(PARCEL_FIELD.endedAt, p.endedAt);
  if (p.extended) out.push(PARCEL_FIELD.extended, 1);
  opt(PARCEL_FIELD.reason, p.reason);
  // anything else a parcel carries (none today) is kept, as JSON
  const extra = Object.entries(p).filter(([k, x]) => !PARCEL_KNOWN.has(k) && x !== undefined);
  if (extra.length) out.push('x', JSON.stringify(Object.fromEntries(extra)));
  return out;
}

const num = (x: string | undefined): number | null => (x === undefined ? null : Number(x));

/** A parcel from its hash (HGETALL), either encoding; null when there is none. */
export function decodeParcel(h: Record<string, string> | null | undefined): Parcel | null {
  if (!h) return null;
  if (h.j !== undefined) return JSON.parse(h.j) as Parcel;
  if (h[PARCEL_FIELD.id] === undefined) return null;
  const p: Parcel = {
    id: h[PARCEL_FIELD.id]!,
    state: h.state as ParcelState,
    unit: h[PARCEL_FIELD.unit]!,
    compartment: Number(h[PARCEL_FIELD.compartment]),
    size: h[PARCEL_FIELD.size] as Size,
    phone: h[PARCEL_FIELD.phone]!,
    name: h[PARCEL_FIELD.name] ?? null,
    room: h[PARCEL_FIELD.room] ?? null,
    lang: h[PARCEL_FIELD.lang] as Lang,
    trackingNumber: h[PARCEL_FIELD.trackingNumber]!,
    carrier: h[PARCEL_FIELD.carrier]!,
    courierId: h[PARCEL_FIELD.courierId]!,
    createdAt: Number(h[PARCEL_FIELD.createdAt]),
    storedAt: num(h[PARCEL_FIELD.storedAt]),
    deadline: num(h[PARCEL_FIELD.deadline]),
    endedAt: num(h[PARCEL_FIELD.endedAt]),
    extended: h[PARCEL_FIELD.extended] === '1',
    reason: h[PARCEL_FIELD.reason] ?? null,
    v: Number(h.v),
  };
  return h.x !== undefined ? { ...(JSON.parse(h.x) as object), ...p } : p;
}

/**
 * HSET arguments of a slot. Its parcel ids are joined by spaces. `intentRef` and `intentParcel` are optional as well
 * as nullable: null is stored as an empty field, undefined as no field.
 */
export function slotFields(s: Slot, v: number): (string | number)[] {
  const out: (string | number)[] = ['v', v, 'u', s.unit, 'c', s.compartment, 'ph', s.phone, 'ps', s.parcels.join(' ')];
  if (s.codeHash !== null) out.push('ch', s.codeHash);
  if (s.intent !== null) out.push('i', s.intent);
  if (s.intentAt !== null) out.push('ia', s.intentAt);
  if (s.intentRef !== undefined) out.push('ir', s.intentRef ?? '');
  if (s.intentParcel !== undefined) out.push('ip', s.intentParcel ?? '');
  return out;
}

/** A slot from its hash (HGETALL), either encoding; null when there is none. */
export function decodeSlot(h: Record<string, string> | null | undefined): Slot | null {
  if (!h) return null;
  if (h.j !== undefined) return JSON.parse(h.j) as Slot;
  if (h.u === undefined) return null;
  const s: Slot = {
    unit: h.u,
    compartment: Number(h.c),
    phone: h.ph!,
    parcels: h.ps ? h.ps.split(' ') : [],
    codeHash: h.ch ?? null,
    intent: (h.i as Slot['intent'] | undefined) ?? null,
    intentAt: num(h.ia),
    v: Number(h.v),
  };
  if (h.ir !== undefined) s.intentRef = h.ir === '' ? null : h.ir;
  if (h.ip !== undefined) s.intentParcel = h.ip === '' ? null : h.ip;
  return s;
}

/** Parcels by id, in one pipeline (missing ones left out). */
export async function readParcels(redis: Redis, k: Keys, ids: readonly string[]): Promise<Parcel[]> {
  if (!ids.length) return [];
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hgetall(k.parcel(id));
  const res = (await pipe.exec()) ?? [];
  return res.map(([, h]) => decodeParcel(h as Record<string, string>)).filter((p): p is Parcel => p !== null);
}
