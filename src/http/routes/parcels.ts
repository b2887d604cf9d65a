import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { SIZES } from '../../domain/model.js';
import type { Parcel } from '../../domain/parcel.js';
import { PARCEL_STATES } from '../../domain/parcel.js';
import type { Courier } from '../../parcels/accounts.js';
import { normalizePhone } from '../../notify/phone.js';
import { courierAuth } from '../auth.js';
import type { CourierAuth, Idempotency, ParcelApi, RuntimeDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { IdempotencyKeys } from '../idempotency.js';
import { ErrorSchema, json } from '../schemas.js';
import { Time, isoTime } from '../time.js';

const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, json(ErrorSchema, ERR_TEXT[c] ?? 'error')])) as Record<number, ReturnType<typeof json>>;
const ERR_TEXT: Record<number, string> = {
  400: 'a field is invalid (named in the message)',
  401: 'missing or bad token',
  403: 'wrong code, phone or presence code',
  404: 'not found',
  409: 'conflict (no free compartment, busy, already done)',
  422: 'refused by a rule (recipient consent), or an Idempotency-Key reused for another request',
  429: 'locked after too many wrong attempts',
  502: 'the unit did not open the door',
  503: 'the unit is offline',
};

export const Phone = z
  .string()
  .transform((v, ctx) => {
    const n = normalizePhone(v);
    if (!n) {
      ctx.addIssue({ code: 'custom', message: 'must be a mainland mobile number: 11 digits starting with 1 (+86 allowed)' });
      return z.NEVER;
    }
    return n;
  })
  .openapi({ type: 'string', example: '13800138000' });
const Code = z.string().regex(/^\d{6}$/, 'must be 6 digits').openapi({ example: '482913' });
const UnitId = z.string().min(1).max(64).openapi({ example: 'LSN-0001' });
/** The client's own retry key; only ever used hashed with the caller and the request (see http/idempotency.ts). */
const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1, 'must not be empty')
    .max(64)
    .optional()
    .openapi({ description: 'retry the same request safely: the same caller, request and key act once' }),
});

const DepositBody = z
  .object({
    unit: UnitId.optional().openapi({ description: 'omit to take the first unit with room' }),
    size: z.enum(SIZES),
    trackingNumber: z.string().regex(/^[A-Za-z0-9-]{4,40}$/, '4 to 40 letters, digits or -'),
    carrier: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/, '1 to 20 letters, digits, _ or - (e.g. SF, JD, ZTO)'),
    phone: Phone,
    name: z.string().trim().min(1).max(40).optional(),
    room: z.string().trim().min(1).max(20).optional(),
    shareCompartment: z.boolean().optional().openapi({ description: 'with the recipient’s other parcels when they fit (default true)' }),
  })
  .openapi('DepositRequest');

export const ParcelView = z
  .object({
    id: z.string(),
    state: z.enum(PARCEL_STATES),
    unit: z.string(),
    siteName: z.object({ zh: z.string(), en: z.string() }),
    compartment: z.number().int(),
    size: z.enum(SIZES),
    trackingNumber: z.string(),
    carrier: z.string(),
    phoneTail: z.string(),
    createdAt: Time,
    storedAt: Time.nullable(),
    deadline: Time.nullable(),
    endedAt: Time.nullable(),
    extended: z.boolean(),
    reason: z.string().nullable(),
  })
  .openapi('Parcel');

export function parcelView(service: Pick<ParcelApi, 'profile'>, p: Parcel): z.infer<typeof ParcelView> {
  return {
    id: p.id,
    state: p.state,
    unit: p.unit,
    siteName: service.profile(p.unit).siteName,
    compartment: p.compartment,
    size: p.size,
    trackingNumber: p.trackingNumber,
    carrier: p.carrier,
    phoneTail: p.phone.slice(-4),
    createdAt: isoTime(p.createdAt),
    storedAt: isoTime(p.storedAt),
    deadline: isoTime(p.deadline),
    endedAt: isoTime(p.endedAt),
    extended: p.extended,
    reason: p.reason,
  };
}

type Env = { Variables: { courier: Courier; requestId: string } };

export function parcelRoutes(deps: { parcels: ParcelApi; couriers: CourierAuth; idempotency: Idempotency; runtime: RuntimeDeps }) {
  const app = new OpenAPIHono<Env>();
  const svc = deps.parcels;
  const courier = courierAuth(deps.couriers);
  const courierSecurity = [{ courierToken: [] }];

  app.openAPIRegistry.registerComponent('securitySchemes', 'courierToken', { type: 'http', scheme: 'bearer', description: 'lgc_… token issued by staff' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'staffToken', {
    type: 'http',
    scheme: 'bearer',
    description: "a member's API token (lgs_…); in development also STAFF_TOKEN (the admin `bootstrap`)",
  });

  // ---- couriers ----
  app.use('/v1/deposits', courier);
  app.use('/v1/deposits/*', courier);
  app.use('/v1/returns', courier);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/deposits',
      tags: ['couriers'],
      security: courierSecurity,
      summary: 'Deposit a parcel: reserve the smallest free compartment that fits and open its door',
      description:
        'The door opens at once; the parcel is stored when the door closes with the parcel inside (the resident is then told the code). ' +
        'Closed empty cancels the deposit; so does a door not opened within 2 minutes, once the unit confirms the compartment shut and empty. If the unit has no room the answer names the nearest unit that has. ' +
        'Asking again with the same carrier + tracking number returns the same parcel.',
      request: { body: { content: { 'application/json': { schema: DepositBody } }, required: true } },
      responses: { 201: json(ParcelView, 'reserved; the door is opening'), ...errors(400, 401, 409, 422, 502, 503) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const p = await svc.deposit(c.var.courier, body);
      return c.json(parcelView(svc, p), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/deposits/{id}',
      tags: ['couriers'],
      security: courierSecurity,
      summary: 'Progress of a deposit (reserved → depositing → stored, or cancelled)',
      request: { params: z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 200: json(ParcelView, 'the parcel'), ...errors(401, 404) },
    }),
    async (c) => {
      const p = await svc.get(c.req.valid('param').id);
      if (!p || p.courierId !== c.var.courier.id) throw new ApiError(404, 'not_found', 'no such deposit of yours');
      return c.json(parcelView(svc, p), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/returns',
      tags: ['couriers'],
      security: courierSecurity,
      summary: 'Take back an overdue parcel you deposited: its door opens; closed empty = returned, compartment freed',
      request: {
        body: { content: { 'application/json': { schema: z.object({ parcelId: z.string().min(1).max(64) }).openapi('ReturnRequest') } }, required: true },
        headers: IdempotencyHeader,
      },
      responses: { 200: json(z.object({ parcel: ParcelView, result: z.string() }), 'the door is open'), ...errors(400, 401, 404, 409, 502) },
    }),
    async (c) => {
      const { parcelId } = c.req.valid('json');
      // only the courier who deposited the parcel may take it back: the key is theirs for this parcel
      const ref = IdempotencyKeys.ref('return', [c.var.courier.id, parcelId], c.req.valid('header')['idempotency-key'] ?? deps.runtime.ids.next());
      const r = await svc.returnParcel(c.var.courier, parcelId, ref);
      return c.json({ parcel: parcelView(svc, r.parcel), result: r.result }, 200);
    },
  );

  // ---- residents ----
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/pickups',
      tags: ['residents'],
      summary: 'Open a compartment remotely with pickup code + phone + the presence code shown on the unit screen',
      description:
        'The presence code on the screen changes every minute and proves the person stands at the unit. ' +
        '5 wrong attempts within 10 minutes lock the phone and the client address for 10 minutes. ' +
        'With an Idempotency-Key, the same request (phone, unit, code) sent again opens the door once; the same phone ' +
        'and key with another unit or code answers 422 idempotency_key_reused. The presence code is not part of the ' +
        'request: a retry a minute later carries a new one.',
      request: {
        body: {
          content: {
            'application/json': {
              schema: z
                .object({ unit: UnitId, code: Code, phone: Phone, presenceCode: z.string().regex(/^\d{4}$/, 'must be the 4 digits on the unit screen') })
                .openapi('PickupRequest'),
            },
          },
          required: true,
        },
        headers: IdempotencyHeader,
      },
      responses: {
        200: json(z.object({ compartment: z.number().int(), parcels: z.array(ParcelView), result: z.string() }), 'the door is opening'),
        ...errors(400, 403, 404, 409, 422, 429, 502),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const key = c.req.valid('header')['idempotency-key'];
      // The caller is the phone (a resident has no account); the request is the unit and the code.
      const r = await deps.idempotency.perform('pickup-api', [body.phone], [body.unit, body.code], key, (ref) =>
        svc.remotePickup({ ...body, client: deps.runtime.clientAddress(c), ref }),
      );
      return c.json({ compartment: r.compartment, parcels: r.parcels.map((p) => parcelView(svc, p)), result: r.result }, 200);
    },
  );

  // Residents' self-service (/v1/resident/…: phone + code, or a resident token) lives in routes/resident.ts.
  return app;
}
