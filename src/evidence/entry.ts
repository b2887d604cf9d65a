import { createHash } from 'node:crypto';
import type { EventSource } from '../domain/model.js';
import { maskPhone } from '../notify/phone.js';

/**
 * Who did a thing the evidence log records. A resident appears only as a masked phone (`138****8000`): the log is
 * shown to staff and printed into claims; it must not become a phone book.
 */
export type Actor =
  | { type: 'unit'; id: string }
  | { type: 'courier'; id: string }
  | { type: 'staff'; id: string; name?: string }
  | { type: 'resident'; phone: string }
  | { type: 'system'; id: string };

export const systemActor = (id: string): Actor => ({ type: 'system', id });
export const unitActor = (id: string): Actor => ({ type: 'unit', id });

export const residentActor = (phone: string): Actor => ({ type: 'resident', phone: maskPhone(phone) });

/**
 * One entry of the evidence log: a fact a unit reported or the gateway inferred, a parcel transition, a command and
 * its result, a notice and its delivery, a staff action. `kind` says which; the rest are its details.
 */
export interface EvidenceEntry {
  at: number;
  kind: string;
  actor: Actor;
  unit?: string;
  compartment?: number;
  /** the parcel it concerns, where there is one */
  parcel?: string;
  /** where a unit fact came from on the wire; `reconciled` when inferred from a snapshot, status or poll */
  source?: EventSource;
  [detail: string]: unknown;
}

/** A stored entry: its place in the chain, the link to the entry before it, its own hash, and the entry as stored. */
export interface ChainedEntry {
  /** stream id */
  id: string;
  n: number;
  prev: string;
  hash: string;
  /** the JSON exactly as stored: the bytes the hash covers */
  json: string;
}

export const GENESIS = '0'.repeat(64);

/**
 * The canonical encoding each link hashes: a version tag, the entry's position, the previous entry's hash, and the
 * entry's JSON as stored (written once, never re-serialised). SHA-256, lower-case hex. Lua computes the same in
 * evidence/lua.ts for the entries it writes itself; the tests hold the two together.
 */
export function linkHash(n: number, prev: string, json: string): string {
  return createHash('sha256').update(`lg-ev1|${n}|${prev}|${json}`).digest('hex');
}

export interface ChainHead {
  n: number;
  hash: string;
  /** stream id of the entry at the head, when known */
  id?: string;
}

export const EMPTY_HEAD: ChainHead = { n: 0, hash: GENESIS };
