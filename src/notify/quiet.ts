import { localParts } from './localtime.js';

/** Local wall-clock window, 'HH:MM' each; start > end means the window crosses midnight (22:00-08:00). */
export interface QuietHours {
  start: string;
  end: string;
}

const DAY_S = 24 * 3600;

export function parseHm(hm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hm);
  if (!m) throw new RangeError(`not a HH:MM time: ${JSON.stringify(hm)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

function secondsOfDay(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  return p.hour * 3600 + p.minute * 60 + p.second;
}

/** Whether a local minute-of-day falls inside the window [start, end). */
export function inQuietHours(ms: number, timeZone: string, quiet: QuietHours | null): boolean {
  if (!quiet) return false;
  const start = parseHm(quiet.start) * 60;
  const end = parseHm(quiet.end) * 60;
  if (start === end) return false;
  const s = secondsOfDay(ms, timeZone);
  return start < end ? s >= start && s < end : s >= start || s < end;
}

/**
 * The earliest instant at or after `ms` outside the quiet window: `ms` itself when it is allowed, else the
 * window's end (local wall clock) — the same day for 03:00, the next day for 22:30.
 *
 * The jump is computed in local seconds and then re-checked against the zone: if an offset change (daylight
 * saving) happened in between, the result is corrected by the drift so it still lands on the local end time.
 */
export function nextAllowed(ms: number, timeZone: string, quiet: QuietHours | null): number {
  if (!quiet || !inQuietHours(ms, timeZone, quiet)) return ms;
  const end = parseHm(quiet.end) * 60;
  const subSecond = ((ms % 1000) + 1000) % 1000;
  let candidate = ms + (((end - secondsOfDay(ms, timeZone)) % DAY_S + DAY_S) % DAY_S) * 1000 - subSecond;
  for (let i = 0; i < 2; i++) {
    let drift = end - secondsOfDay(candidate, timeZone);
    if (drift > DAY_S / 2) drift -= DAY_S;
    if (drift < -DAY_S / 2) drift += DAY_S;
    if (drift === 0) break;
    candidate += drift * 1000;
  }
  return candidate;
}
