/**
 * The logging interface every module uses. The implementation lives in src/runtime/logger.ts (pino): this file
 * stays free of Node-only packages so the Workers build can import the modules that take a Logger.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const noop = () => {};
/** Drops everything (tests, benchmarks, library defaults). */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLogger };
