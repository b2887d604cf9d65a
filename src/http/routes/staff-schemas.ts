import { z } from '@hono/zod-openapi';
import { StaffError } from '../../staff/errors.js';
import { STAFF_ROLES } from '../../staff/types.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, json } from '../schemas.js';
import { Time } from '../time.js';

/** Schemas and error mapping shared by the staff sign-in and staff management routes. */
export const staffSecurity: Record<string, string[]>[] = [{ staffSession: [] }, { staffToken: [] }];

export const MemberView = z
  .object({ id: z.string(), name: z.string(), role: z.enum(STAFF_ROLES), active: z.boolean(), createdAt: Time, updatedAt: Time })
  .openapi('StaffMember');
export const Identity = z.object({ id: z.string(), name: z.string(), role: z.enum(STAFF_ROLES) }).openapi('StaffIdentity');
export const TokenView = z
  .object({
    id: z.string(),
    memberId: z.string(),
    label: z.string(),
    createdAt: Time,
    lastUsedAt: Time.nullable(),
    revokedAt: Time.nullable(),
  })
  .openapi('StaffToken');
export const TokenRequest = z.object({ label: z.string().trim().max(60).default('script') }).openapi('StaffTokenRequest');
export const IssuedToken = z.object({ token: z.string().openapi({ description: 'lgs_…: shown this once' }), record: TokenView }).openapi('IssuedStaffToken');
export const Password = z.string().openapi({ description: '10 to 200 characters', example: 'correct horse battery' });
export const IdParam = z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) });

const TEXT: Record<number, string> = {
  400: 'a field is invalid (named in the message)',
  401: 'not signed in, or the token is unknown, revoked or its member disabled',
  403: 'wrong role, cross-site request, or missing CSRF token',
  404: 'not found',
  409: 'conflict (name taken, last admin, or the bootstrap token is no member)',
};
export const staffErrors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, json(ErrorSchema, TEXT[c] ?? 'error')])) as Record<number, ReturnType<typeof json>>;

/** The staff service's refusals in the API's terms; anything else is rethrown as is. */
export function mapStaffError(err: unknown): never {
  if (!(err instanceof StaffError)) throw err;
  switch (err.code) {
    case 'invalid':
      throw new ApiError(400, 'validation_failed', err.message, { fields: [{ field: err.field ?? 'body', problem: err.message }], in: 'json' });
    case 'not_found':
      throw new ApiError(404, 'not_found', err.message);
    case 'wrong_password':
      throw new ApiError(403, 'forbidden', err.message);
    case 'conflict':
    case 'last_admin':
      throw new ApiError(409, 'conflict', err.message);
  }
}
