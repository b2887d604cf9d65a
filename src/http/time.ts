import { z } from '@hono/zod-openapi';

/**
 * The one serialiser of times in API responses: ISO 8601 with the community's UTC offset
 * (`2026-11-26T18:41:00.000+08:00`), from the epoch milliseconds the domain and store keep. The zone is TIME_ZONE
 * (Asia/Shanghai by default), set once by the runtime; only the HTTP layer formats times.
 */
let zone = 'Asia/Shanghai';
let parts = formatter(zone);

function formatter(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    fractionalSecondDigits: 3,
    timeZoneName: 'longOffset',
  });
}

export function setApiTimeZone(timeZone: string): void {
  zone = timeZone;
  parts = formatter(timeZone);
}

export function apiTimeZone(): string {
  return zone;
}

export function isoTime(ms: number): string;
export function isoTime(ms: number | null | undefined): string | null;
export function isoTime(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  const p = Object.fromEntries(parts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  const offset = (p.timeZoneName ?? 'GMT').replace('GMT', '') || '+00:00';
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}.${p.fractionalSecond}${offset}`;
}

type TimeKey = 'at' | 'since' | 'lastSeen' | 'deadline' | 'until' | `${string}At`;
/** `T` with its time fields as the API writes them. */
export type IsoTimes<T> = {
  [K in keyof T]: K extends TimeKey ? (T[K] extends number ? string : T[K] extends number | null ? string | null : T[K]) : T[K];
};

/** A copy of a record with its time fields (`at`, `…At`, `since`, `lastSeen`, `deadline`, `until`) as ISO strings. */
export function withIsoTimes<T extends object>(rec: T): IsoTimes<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) out[k] = typeof v === 'number' && TIME_KEY.test(k) ? isoTime(v) : v;
  return out as IsoTimes<T>;
}
const TIME_KEY = /^(at|since|lastSeen|deadline|until)$|At$/;

/** OpenAPI/zod type of a time in a response. */
export const Time = z.string().openapi({ format: 'date-time', example: '2026-11-26T18:41:00.000+08:00' });
