import { createHmac, randomInt } from 'node:crypto';

/** Keyed hash of a pickup code at a unit. Codes are stored and logged only in this form. */
export function codeHash(key: Buffer, unit: string, code: string): string {
  return createHmac('sha256', key).update(`${unit}|${code}`).digest('hex');
}

/** `482913` -> `48****`: enough for staff to match a complaint, useless for opening a door. */
export function maskCode(code: string): string {
  return code.slice(0, 2) + '*'.repeat(Math.max(0, code.length - 2));
}

/** A random 6-digit code (uniform over 000000–999999, from the CSPRNG). */
export function randomCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}
