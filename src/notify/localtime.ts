/**
 * Wall-clock parts of an instant in a time zone, through Intl (no hard-coded UTC offsets, so a zone with
 * daylight saving time works too). Formatters are cached: building one is far slower than using it.
 */
export interface LocalParts {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number; // 0-23
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * Recent answers per zone and second: a notice's deadline is formatted when it is queued and again when it is sent,
 * and formatToParts is the costly part (~20 us). Bounded: emptied when full.
 */
const recent = new Map<string, LocalParts>();
const RECENT_MAX = 1024;

export function localParts(ms: number, timeZone: string): LocalParts {
  const key = `${timeZone} ${Math.floor(ms / 1000)}`;
  let parts = recent.get(key);
  if (!parts) {
    parts = computeParts(ms, timeZone);
    if (recent.size >= RECENT_MAX) recent.clear();
    recent.set(key, parts);
  }
  return { ...parts };
}

function computeParts(ms: number, timeZone: string): LocalParts {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return {
    year: out.year ?? 0,
    month: out.month ?? 0,
    day: out.day ?? 0,
    hour: (out.hour ?? 0) % 24,
    minute: out.minute ?? 0,
    second: out.second ?? 0,
  };
}

/** Throws a RangeError for an unknown zone: call at start-up to refuse a bad config. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

const EN_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** `11月29日18:00` (zh) or `29 Nov 18:00` (en), local to the zone. */
export function formatDateTime(ms: number, lang: 'zh' | 'en', timeZone: string): string {
  const p = localParts(ms, timeZone);
  const hm = `${pad(p.hour)}:${pad(p.minute)}`;
  return lang === 'zh' ? `${p.month}月${p.day}日${hm}` : `${p.day} ${EN_MONTHS[p.month - 1]} ${hm}`;
}
