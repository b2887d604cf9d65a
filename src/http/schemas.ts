import { z } from '@hono/zod-openapi';
import { COMMAND_RESULTS, SIZES, type UnitState } from '../domain/model.js';
import { Time, withIsoTimes } from './time.js';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string().openapi({ example: 'phone: must be a mainland mobile number' }),
      requestId: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error');

export const CompartmentSchema = z
  .object({
    no: z.number().int(),
    size: z.enum(SIZES),
    doorOpen: z.boolean(),
    occupied: z.boolean(),
    fault: z.enum(['jammed', 'sensor']).nullable(),
    outOfService: z.boolean(),
    updatedAt: Time.nullable().openapi({ description: 'when it last changed' }),
  })
  .openapi('Compartment');

export const UnitSchema = z
  .object({
    id: z.string().openapi({ example: 'LSN-0001' }),
    site: z.string(),
    siteName: z.object({ zh: z.string(), en: z.string() }),
    dialect: z.enum(['json-v1', 'compact-v2', 'frame-485']),
    online: z.boolean(),
    since: Time.nullable().openapi({ description: 'when online/offline last changed' }),
    lastSeen: Time.nullable(),
    firmware: z.string().nullable(),
    keypad: z.enum(['enabled', 'disabled', 'locked']),
    outOfService: z.boolean().openapi({ description: 'closed down by staff: takes no new parcels' }),
    rssi: z.number().nullable().optional(),
    compartments: z.array(CompartmentSchema),
  })
  .openapi('Unit');

export const UnitIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'LSN-0001' }),
});

export const EventSchema = z
  .object({
    streamId: z.string(),
    event: z.record(z.string(), z.unknown()),
  })
  .openapi('UnitEvent');

export const CommandResultSchema = z.enum(COMMAND_RESULTS);

/** A unit as the API shows it (times as ISO 8601 with the offset). */
export function unitView(u: UnitState): z.infer<typeof UnitSchema> {
  return { ...withIsoTimes(u), compartments: u.compartments.map((c) => withIsoTimes(c)) } as unknown as z.infer<typeof UnitSchema>;
}

/** An OpenAPI response (or body) of JSON described by `schema`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** An OpenAPI request's JSON body (for `request: { ...jsonBody(schema) }`), required unless told. */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({ body: { content: { 'application/json': { schema } }, required } });
