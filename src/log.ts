/**
 * A small structured logger: one JSON line per record on stderr. Levels below LOG_LEVEL are dropped.
 * Kept tiny on purpose: it must also run inside the Workers build, where pino's Node streams do not exist.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}): Logger {
  const min = ORDER[level];
  const write = (lvl: Exclude<Level, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    const rec = { t: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    console.error(JSON.stringify(rec, (_k, v) => (v instanceof Error ? { name: v.name, message: v.message } : v)));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (f) => createLogger(level, { ...base, ...f }),
  };
}

export const silentLogger: Logger = createLogger('silent');
