/**
 * Small helpers shared by the simulated units. Everything that touches the wire format is written here from the
 * vendor documents, deliberately not imported from the gateway's codecs (devices/*), so that the simulators check the
 * gateway instead of agreeing with it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** JSON with object keys sorted (recursively) and no white space; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Lower-case hex HMAC-SHA256 of the UTF-8 text. */
export function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** Constant-time string comparison (exact: case matters). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a JSON object payload; null when it is not JSON or not an object. */
export function parseObject(payload: Buffer | string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    return isPlainObject(v) ? v : null;
  } catch {
    return null;
  }
}

/** RFC 3339 UTC with whole seconds, as in the vendor's examples: 2026-11-20T08:15:30Z. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Number of characters (code points), the unit a "≤ 40 characters" display limit counts in. */
export function charCount(s: string): number {
  return [...s].length;
}

export function truncateChars(s: string, max: number): string {
  return [...s].slice(0, max).join('');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** compact-v2 message ids: 1–65535, wrapping from 65535 to 1. */
export function nextMsgId(m: number): number {
  return m >= 65535 ? 1 : m + 1;
}

export function isMsgId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** Small seeded PRNG (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A map that remembers only the last `capacity` keys it was given (insertion order; re-setting does not refresh). */
export class RecentMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  has(k: K): boolean {
    return this.map.has(k);
  }
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  set(k: K, v: V): void {
    if (!this.map.has(k) && this.map.size >= this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(k, v);
  }
  clear(): void {
    this.map.clear();
  }
  /** Oldest first. */
  entries(): [K, V][] {
    return [...this.map.entries()];
  }
  get size(): number {
    return this.map.size;
  }
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').replace(/(..)(?=.)/g, '$1 ');
}
