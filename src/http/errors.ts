import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { Logger } from '../log.js';
import { CommandError } from '../bus/commands.js';
import { OpenRefused } from '../bus/open-guard.js';
import { ParcelError, type ParcelErrorCode } from '../parcels/errors.js';

/** Every error code the API answers with, in one enum. */
export const ERROR_CODES = [
  'validation_failed',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'rate_limited',
  'unit_offline',
  'no_compartment',
  'consent_refused',
  'locked_out',
  'payload_too_large',
  'headers_too_large',
  'bad_request',
  'internal',
  'unavailable',
  'wrong_code',
  'wrong_presence_code',
  'open_failed',
  'busy',
  'already_extended',
  'not_waiting',
  'idempotency_key_reused',
  'locked_down',
  'site_only',
  'site_unavailable',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: Record<string, unknown> };
}

export function errorBody(c: Context, code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? '-';
  return { error: { code, message, requestId, ...(details ? { details } : {}) } };
}

/** zod issues -> one readable message naming each bad field. */
export function describeZod(err: ZodError, where: string): { message: string; fields: { field: string; problem: string }[] } {
  const fields = err.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : where, problem: i.message }));
  return { message: fields.map((f) => `${f.field}: ${f.problem}`).join('; '), fields };
}

/** Domain errors carry no HTTP; this is where they get it. */
export const PARCEL_STATUS: Record<ParcelErrorCode, ContentfulStatusCode> = {
  not_found: 404,
  forbidden: 403,
  consent_refused: 422,
  no_compartment: 409,
  unit_offline: 503,
  open_failed: 502,
  busy: 409,
  wrong_code: 403,
  wrong_presence_code: 403,
  locked_out: 429,
  already_extended: 409,
  not_waiting: 409,
  conflict: 409,
  locked_down: 503,
  rate_limited: 429,
};

/** Status, code, message and details of a known error (null: not one we describe; a 500). */
export function describeError(err: unknown): { status: ContentfulStatusCode; code: ErrorCode; message: string; details?: Record<string, unknown> } | null {
  const d = (e: { details?: Record<string, unknown> | undefined }) => (e.details ? { details: e.details } : {});
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message, ...d(err) };
  if (err instanceof ParcelError) return { status: PARCEL_STATUS[err.code], code: err.code, message: err.message, ...d(err) };
  if (err instanceof OpenRefused) {
    // a raw open (staff command) the open guard refused: never sent to the unit
    if (err.why === 'locked_down') return { status: 503, code: 'locked_down', message: err.message, details: { scope: err.scope } };
    const retryAfterS = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
    return { status: 429, code: 'rate_limited', message: err.message, details: { scope: err.scope, retryAfterS } };
  }
  if (err instanceof CommandError) {
    return err.code === 'unknown_unit' ? { status: 404, code: 'not_found', message: err.message } : { status: 409, code: 'conflict', message: err.message };
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code: ErrorCode = status === 413 ? 'payload_too_large' : status === 401 ? 'unauthorized' : status < 500 ? 'validation_failed' : 'internal';
    return { status: status as ContentfulStatusCode, code, message: err.message || 'request refused' };
  }
  return null;
}

/** Seconds a caller is asked to wait when the store is unreachable (a Redis restart takes about that). */
const OUTAGE_RETRY_AFTER_S = 2;
const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Is this the store (Redis) being unreachable rather than a fault of ours? ioredis gives up a command after its
 * retries (MaxRetriesPerRequestError), or fails it on a closed connection; the cause may be wrapped. Recognised by
 * name, code and message so it holds on both runtimes (Node and workerd).
 */
export function isStoreOutage(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'MaxRetriesPerRequestError') return true;
    if (typeof code === 'string' && OUTAGE_CODES.has(code)) return true;
    if (/^Connection is closed\.?$|Stream isn't writeable/.test(e.message)) return true;
  }
  return false;
}

export function onError(logger: Logger) {
  return (err: Error, c: Context) => {
    const known = describeError(err);
    if (known) {
      const retryAfterS = known.details?.retryAfterS;
      if ((known.code === 'locked_out' || known.code === 'rate_limited') && typeof retryAfterS === 'number') c.header('Retry-After', String(retryAfterS));
      return c.json(errorBody(c, known.code, known.message, known.details), known.status);
    }
    if (isStoreOutage(err)) {
      // Not a bug to hunt: tell the caller to come back. Each write step is atomic, and a deposit retried with its
      // Idempotency-Key is answered once.
      logger.warn('store unreachable during a request', { path: c.req.path, err });
      c.header('Retry-After', String(OUTAGE_RETRY_AFTER_S));
      return c.json(
        errorBody(c, 'unavailable', `the gateway cannot reach its store for a moment; retry in ${OUTAGE_RETRY_AFTER_S} s (with the same Idempotency-Key)`, {
          retryAfterS: OUTAGE_RETRY_AFTER_S,
        }),
        503,
      );
    }
    logger.error('unhandled error in request', { path: c.req.path, err });
    return c.json(errorBody(c, 'internal', 'internal error; the request id helps staff find it in the logs'), 500);
  };
}
