import { createHmac } from 'node:crypto';

/**
 * The short code each unit's screen shows, changing every minute. A remote pickup must quote it, which proves the
 * person stands at the unit: a leaked pickup code and phone number alone cannot open a door from afar.
 * Derived (HMAC of unit and minute), so nothing is stored and every gateway instance agrees.
 */
export function presenceCode(key: Buffer, unit: string, atMs: number): string {
  const minute = Math.floor(atMs / 60_000);
  const mac = createHmac('sha256', key).update(`presence|${unit}|${minute}`).digest();
  return String(mac.readUInt32BE(0) % 10_000).padStart(4, '0');
}

/** The code on screen now, or the one just before (a resident may type it as the minute turns). */
export function presenceCodeValid(key: Buffer, unit: string, code: string, nowMs: number): boolean {
  return code === presenceCode(key, unit, nowMs) || code === presenceCode(key, unit, nowMs - 60_000);
}
