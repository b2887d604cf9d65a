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
const PARCEL_STATUS: Record<ParcelErrorCode, ContentfulStatusCode> = {
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

export function onError(logger: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof ApiError) return c.json(errorBody(c, err.code, err.message, err.details), err.status);
    if (err instanceof ParcelError) {
      if ((err.code === 'locked_out' || err.code === 'rate_limited') && typeof err.details?.retryAfterS === 'number') c.header('Retry-After', String(err.details.retryAfterS));
      return c.json(errorBody(c, err.code, err.message, err.details), PARCEL_STATUS[err.code]);
    }
    if (err instanceof OpenRefused) {
      // a raw open (staff command) the open guard refused: never sent to the unit
      if (err.why === 'locked_down') return c.json(errorBody(c, 'locked_down', err.message, { scope: err.scope }), 503);
      const retryAfterS = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
      c.header('Retry-After', String(retryAfterS));
      return c.json(errorBody(c, 'rate_limited', err.message, { scope: err.scope, retryAfterS }), 429);
    }
    if (err instanceof CommandError) {
      return c.json(errorBody(c, err.code === 'unknown_unit' ? 'not_found' : 'conflict', err.message), err.code === 'unknown_unit' ? 404 : 409);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const code: ErrorCode = status === 413 ? 'payload_too_large' : status === 401 ? 'unauthorized' : status < 500 ? 'validation_failed' : 'internal';
      return c.json(errorBody(c, code, err.message || 'request refused'), status as ContentfulStatusCode);
    }
    logger.error('unhandled error in request', { path: c.req.path, err });
    return c.json(errorBody(c, 'internal', 'internal error; the request id helps staff find it in the logs'), 500);
  };
}
