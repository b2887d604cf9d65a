import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { Logger } from '../log.js';

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

export function onError(logger: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof ApiError) return c.json(errorBody(c, err.code, err.message, err.details), err.status);
    if (err instanceof HTTPException) {
      const status = err.status;
      const code: ErrorCode = status === 413 ? 'payload_too_large' : status === 401 ? 'unauthorized' : status < 500 ? 'validation_failed' : 'internal';
      return c.json(errorBody(c, code, err.message || 'request refused'), status as ContentfulStatusCode);
    }
    logger.error('unhandled error in request', { path: c.req.path, err });
    return c.json(errorBody(c, 'internal', 'internal error; the request id helps staff find it in the logs'), 500);
  };
}
