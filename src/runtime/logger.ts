import { pino, stdSerializers, type DestinationStream, type Logger as Pino } from 'pino';
import type { Level, Logger } from '../log.js';
import { maskPhone } from '../notify/phone.js';

/**
 * The gateway's logger: pino, one JSON line per record on stderr ({"level":"info","time":"…","msg":"…",…}).
 * Kept out of src/log.ts (the interface) so the Workers build never pulls pino in.
 *
 * Secrets are masked at the logger, whatever the caller passed:
 *   - pino `redact` paths for the usual places (top level and one level down, request headers);
 *   - and a walk over every record and child binding that masks fields by name wherever they are:
 *     …phone → 138****8000; …token / authorization / password / secret / keyHex → [redacted];
 *     code / …Code (pickupCode, presenceCode) → [redacted] when the value has a digit (error codes such as
 *     `wrong_code` or `ECONNREFUSED` stay readable). Free text (`msg`, an SMS `text`) is not rewritten.
 */
export const REDACT_PATHS = [
  'phone',
  '*.phone',
  'code',
  '*.code',
  'presenceCode',
  '*.presenceCode',
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  'headers.authorization',
  '*.headers.authorization',
];

const SECRET = /(token|authorization|password|secret|keyhex)$/i;
const PHONE = /phone$/i;
const CODE = /^(code|pickupCode|presenceCode|codes|digits)$/;

/** The value a field of this name may show in a log line. */
export function maskField(key: string, value: unknown): unknown {
  if (value === null || value === undefined || value === '') return value;
  if (typeof value === 'string' && (value === '[redacted]' || value.includes('*'))) return value; // masked already
  if (SECRET.test(key)) return '[redacted]';
  if (PHONE.test(key)) return typeof value === 'string' ? maskPhone(value) : '[redacted]';
  if (CODE.test(key)) return /\d/.test(typeof value === 'object' ? JSON.stringify(value) : String(value)) ? '[redacted]' : value;
  return value;
}

/** A masked copy of a record (the caller's objects are never changed); Errors become plain objects first. */
export function maskRecord(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return maskRecord(stdSerializers.err(value), depth);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => maskRecord(v, depth + 1));
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const masked = maskField(k, v);
    out[k] = masked === v ? maskRecord(v, depth + 1) : masked;
  }
  return out;
}

export interface LoggerOptions {
  /** where lines go; stderr (synchronously, so nothing is lost at exit) by default */
  destination?: DestinationStream;
}

export function createPino(level: Level, base: Record<string, unknown> = {}, opts: LoggerOptions = {}): Pino {
  return pino(
    {
      level,
      base: maskRecord(base) as Record<string, unknown>,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Errors anywhere in a record are turned into plain objects by maskRecord (below) before pino sees them.
      serializers: { err: (e: unknown) => e },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (b) => maskRecord(b) as Record<string, unknown>,
        log: (o) => maskRecord(o) as Record<string, unknown>,
      },
      redact: { paths: REDACT_PATHS, censor: (v: unknown, path: string[]) => maskField(path[path.length - 1] ?? '', v) },
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** pino behind the project's Logger interface (src/log.ts). */
export function wrapPino(p: Pino): Logger {
  return {
    debug: (msg, f) => (f ? p.debug(f, msg) : p.debug(msg)),
    info: (msg, f) => (f ? p.info(f, msg) : p.info(msg)),
    warn: (msg, f) => (f ? p.warn(f, msg) : p.warn(msg)),
    error: (msg, f) => (f ? p.error(f, msg) : p.error(msg)),
    child: (f) => wrapPino(p.child(f)),
  };
}

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}, opts: LoggerOptions = {}): Logger {
  return wrapPino(createPino(level, base, opts));
}
