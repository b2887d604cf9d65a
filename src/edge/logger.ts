import type { Level, Logger } from '../log.js';

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** The Worker's logger: one JSON line per record on the console (Workers Logs / `wrangler tail` collect it). */
export function consoleLogger(level: Level = 'info', base: Record<string, unknown> = {}): Logger {
  const write = (lvl: Exclude<Level, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const rec = { t: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    console.log(JSON.stringify(rec, (_k, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message } : v)));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (f) => consoleLogger(level, { ...base, ...f }),
  };
}
