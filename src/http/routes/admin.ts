import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { CommandBus } from '../../bus/commands.js';
import type { Courier, Couriers, Residents } from '../../parcels/accounts.js';
import type { ParcelService } from '../../parcels/service.js';
import type { UnitStore } from '../../store/units.js';
import type { Actor } from '../../evidence/entry.js';
import { staffActor, type StaffIdentity } from '../../staff/types.js';
import { requireRole, staffAuth, type StaffAuthDeps, type StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { CommandResultSchema, ErrorSchema, UnitIdParam, UnitSchema, json, unitView } from '../schemas.js';
import { Time, isoTime, withIsoTimes } from '../time.js';
import { recordStaffAction } from '../staff-actions.js';
import { staffSecurity } from './staff-schemas.js';
import { maskPhone } from '../../notify/phone.js';
import { Phone, ParcelView, parcelView } from './parcels.js';
import { lockdownRoutes } from './lockdown.js';

/** Who did it, for the evidence log: the signed-in member. */
const memberOf = (c: { get(key: 'staff'): StaffIdentity }): Actor => staffActor(c.get('staff'));

export interface FailureLister {
  failures(limit?: number): Promise<unknown[]>;
}

const CourierView = z
  .object({
    id: z.string(),
    name: z.string(),
    carrier: z.string(),
    webhookUrl: z.string().nullable(),
    active: z.boolean(),
    createdAt: Time,
  })
  .openapi('Courier');

const courierView = ({ webhookSecret: _s, ...v }: Courier): z.infer<typeof CourierView> => ({ ...v, createdAt: isoTime(v.createdAt) });

const UnitCommand = z
  .discriminatedUnion('op', [
    z.object({ op: z.literal('open'), compartment: z.number().int().min(1).max(99) }),
    z.object({ op: z.literal('display'), text: z.string().min(1).max(40), seconds: z.number().int().min(1).max(255) }),
    z.object({ op: z.literal('keypad'), enabled: z.boolean() }),
    z.object({ op: z.literal('status') }),
  ])
  .openapi('UnitCommand');

/**
 * Staff routes: couriers, residents' preferences, parcels, unit commands, notification failures. Any signed-in
 * member; courier accounts (which let outsiders open doors) need an admin. Every change is a recorded staff action.
 */
export function adminRoutes(deps: {
  auth: StaffAuthDeps;
  couriers: Couriers;
  residents: Residents;
  parcels: ParcelService;
  commands: CommandBus;
  store: UnitStore;
  notifications: FailureLister;
}) {
  const app = new OpenAPIHono<StaffEnv>();
  const staff = staffAuth(deps.auth);
  app.use('/v1/admin/*', staff);
  app.use('/v1/units/:id/commands', staff);
  app.use('/v1/units/:id/keypad-lock', staff);
  app.on(['POST', 'DELETE'], ['/v1/admin/couriers', '/v1/admin/couriers/*'], requireRole('admin'));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/couriers',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Issue a courier account and its bearer token (shown once, stored hashed)',
      request: {
        body: {
          content: {
            'application/json': {
              schema: z
                .object({
                  name: z.string().trim().min(1).max(60),
                  carrier: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/, '1 to 20 letters, digits, _ or -'),
                  webhookUrl: z.string().url().optional(),
                  webhookSecret: z.string().min(16).optional(),
                })
                .refine((b) => !b.webhookUrl || b.webhookSecret, { message: 'webhookSecret is required with webhookUrl', path: ['webhookSecret'] })
                .openapi('CourierRequest'),
            },
          },
          required: true,
        },
      },
      responses: { 201: json(z.object({ courier: CourierView, token: z.string() }), 'issued'), 400: json(ErrorSchema, 'bad field'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site') },
    }),
    async (c) => {
      const { courier, token } = await deps.couriers.issue(c.req.valid('json'));
      await recordStaffAction(c, 'courier.issue', { courierId: courier.id, name: courier.name, carrier: courier.carrier });
      return c.json({ courier: courierView(courier), token }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/couriers',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Courier accounts',
      responses: { 200: json(z.object({ couriers: z.array(CourierView) }), 'all'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site') },
    }),
    async (c) => c.json({ couriers: (await deps.couriers.list()).map(courierView) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/couriers/{id}',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Revoke a courier token',
      request: { params: z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 204: { description: 'revoked' }, 404: json(ErrorSchema, 'no such courier'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!(await deps.couriers.revoke(id))) throw new ApiError(404, 'not_found', 'no such courier');
      await recordStaffAction(c, 'courier.revoke', { courierId: id });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/admin/residents/{phone}/preferences',
      tags: ['staff'],
      security: staffSecurity,
      summary: "Set a resident's preferences at the office (e.g. consent given or refused on paper)",
      request: {
        params: z.object({ phone: Phone.openapi({ param: { name: 'phone', in: 'path' } }) }),
        body: {
          content: {
            'application/json': {
              schema: z.object({ lowCompartment: z.boolean().optional(), lang: z.enum(['zh', 'en']).optional(), consent: z.enum(['allowed', 'refused']).optional() }),
            },
          },
          required: true,
        },
      },
      responses: { 200: json(z.record(z.string(), z.unknown()), 'saved'), 400: json(ErrorSchema, 'bad field'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site') },
    }),
    async (c) => {
      const { phone } = c.req.valid('param');
      const prefs = await deps.residents.setPrefs(phone, c.req.valid('json'));
      await recordStaffAction(c, 'resident.preferences', { phone: maskPhone(phone), change: c.req.valid('json') });
      return c.json(withIsoTimes(prefs), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/parcels/{id}',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'A parcel, with the full phone number',
      request: { params: z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 200: json(ParcelView.extend({ phone: z.string(), courierId: z.string() }), 'the parcel'), 404: json(ErrorSchema, 'not found'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site') },
    }),
    async (c) => {
      const p = await deps.parcels.get(c.req.valid('param').id);
      if (!p) throw new ApiError(404, 'not_found', 'no such parcel');
      // the full phone number is personal data: who looked is recorded
      await recordStaffAction(c, 'parcel.view', { parcelId: p.id });
      return c.json({ ...parcelView(deps.parcels, p), phone: p.phone, courierId: p.courierId }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/units/{id}/commands',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Send a command to a unit (open, display, keypad, status) and wait for its result',
      request: {
        params: UnitIdParam,
        body: { content: { 'application/json': { schema: UnitCommand } }, required: true },
        headers: z.object({ 'idempotency-key': z.string().max(64).optional() }),
      },
      responses: {
        200: json(z.object({ id: z.string(), state: z.string(), result: CommandResultSchema.optional() }), 'the command and its result'),
        400: json(ErrorSchema, 'bad field'),
        401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site'),
        404: json(ErrorSchema, 'no such unit'),
        429: json(ErrorSchema, 'open: too many opens in the last minute (Retry-After)'),
        503: json(ErrorSchema, 'open: locked down (only an admin may open)'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!(await deps.store.unit(id))) throw new ApiError(404, 'not_found', `no unit ${id}`);
      const key = c.req.valid('header')['idempotency-key'];
      const command = c.req.valid('json');
      await recordStaffAction(c, 'unit.command', { unit: id, command, ...(key ? { idempotencyKey: key } : {}) });
      // a raw open: no parcel intent explains it (the open guard counts it as unexplained); an admin's passes a lockdown
      const admin = c.get('staff').role === 'admin';
      const r = await deps.commands.send(id, command, { ...(key ? { id: `staff-${key}` } : {}), reason: 'staff', actor: memberOf(c), admin });
      return c.json({ id: r.id, state: r.state, ...(r.result ? { result: r.result } : {}) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/parcels/{id}/open',
      tags: ['staff'],
      security: staffSecurity,
      summary: "Open a parcel's compartment for a stated reason (recorded with the staff member in the evidence log)",
      request: {
        params: z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) }),
        body: { content: { 'application/json': { schema: z.object({ reason: z.string().trim().min(3).max(200) }).openapi('StaffOpen') } }, required: true },
        headers: z.object({ 'idempotency-key': z.string().min(1).max(64).optional() }),
      },
      responses: {
        200: json(z.object({ parcel: ParcelView, result: CommandResultSchema }), 'the door was asked to open'),
        400: json(ErrorSchema, 'bad field'),
        401: json(ErrorSchema, 'staff only'),
        404: json(ErrorSchema, 'no such parcel'),
        409: json(ErrorSchema, 'not waiting in a compartment, or being opened already'),
        429: json(ErrorSchema, 'too many opens in the last minute (Retry-After)'),
        503: json(ErrorSchema, 'locked down (only an admin may open)'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const key = c.req.valid('header')['idempotency-key'] ?? `${deps.parcels.clock.now()}`;
      const { reason } = c.req.valid('json');
      // Recorded once done, like every other staff action: an open refused (no such parcel, not in a compartment,
      // rate limited, locked down) changed nothing and is no staff action (the open's own entry, with the member
      // and the reason, is in the unit's chain; a refusal by the open guard is recorded there too).
      const r = await deps.parcels.staffOpen(id, memberOf(c), reason, `staff-open-${id}-${key}`, { admin: c.get('staff').role === 'admin' });
      await recordStaffAction(c, 'parcel.open', { parcel: id, reason });
      return c.json({ parcel: parcelView(deps.parcels, r.parcel), result: r.result }, 200);
    },
  );

  app.use('/v1/units/:id/service', staff);
  app.use('/v1/units/:id/compartments/:no/service', staff);
  const ServiceBody = z.object({ outOfService: z.boolean(), reason: z.string().trim().min(1).max(200).optional() }).openapi('ServiceChange');
  const setService = async (actor: Actor, unit: string, outOfService: boolean, reason: string | undefined, compartment?: number) => {
    const u = await deps.store.unit(unit);
    if (!u) throw new ApiError(404, 'not_found', `no unit ${unit}`);
    if (compartment !== undefined && !u.compartments.some((c) => c.no === compartment)) {
      throw new ApiError(404, 'not_found', `unit ${unit} has no compartment ${compartment}`);
    }
    const now = deps.parcels.clock.now();
    await deps.store.apply(
      { unit, at: now, source: {}, kind: 'service', outOfService, ...(compartment !== undefined ? { compartment } : {}), reason: reason ? `staff: ${reason}` : 'staff' },
      { mode: 'none' },
      now,
      actor,
    );
    return unitView((await deps.store.unit(unit))!);
  };

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/units/{id}/service',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Close a unit down (no new parcels; waiting parcels can still be collected) or reopen it',
      request: { params: UnitIdParam, body: { content: { 'application/json': { schema: ServiceBody } }, required: true } },
      responses: { 200: json(UnitSchema, 'the unit'), 400: json(ErrorSchema, 'bad field'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site'), 404: json(ErrorSchema, 'no such unit') },
    }),
    async (c) => {
      const { outOfService, reason } = c.req.valid('json');
      const unit = await setService(memberOf(c), c.req.valid('param').id, outOfService, reason);
      await recordStaffAction(c, 'unit.service', { unit: unit.id, outOfService, reason: reason ?? null });
      return c.json(unit, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/units/{id}/compartments/{no}/service',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Take one compartment out of service (e.g. a broken door) or back',
      request: {
        params: UnitIdParam.extend({ no: z.coerce.number().int().min(1).max(99).openapi({ param: { name: 'no', in: 'path' } }) }),
        body: { content: { 'application/json': { schema: ServiceBody } }, required: true },
      },
      responses: { 200: json(UnitSchema, 'the unit'), 400: json(ErrorSchema, 'bad field'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site'), 404: json(ErrorSchema, 'no such unit or compartment') },
    }),
    async (c) => {
      const { id, no } = c.req.valid('param');
      const { outOfService, reason } = c.req.valid('json');
      const unit = await setService(memberOf(c), id, outOfService, reason, no);
      await recordStaffAction(c, 'compartment.service', { unit: id, compartment: no, outOfService, reason: reason ?? null });
      return c.json(unit, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/units/{id}/keypad-lock',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Unlock a keypad locked after repeated wrong codes',
      request: { params: UnitIdParam },
      responses: { 204: { description: 'unlocked' }, 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site'), 404: json(ErrorSchema, 'no such unit') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await deps.parcels.unlockKeypad(id, 'staff', undefined, memberOf(c));
      await recordStaffAction(c, 'unit.keypad-unlock', { unit: id });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/notifications/failures',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Notifications that failed for good (kept, newest first)',
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
      responses: { 200: json(z.object({ failures: z.array(z.record(z.string(), z.unknown())) }), 'failures'), 401: json(ErrorSchema, 'staff only'), 403: json(ErrorSchema, 'wrong role or cross-site') },
    }),
    async (c) => c.json({ failures: ((await deps.notifications.failures(c.req.valid('query').limit)) as Record<string, unknown>[]).map(withIsoTimes) }, 200),
  );
  if (deps.commands.opens) app.route('/', lockdownRoutes({ auth: deps.auth, opens: deps.commands.opens, commands: deps.commands, parcels: deps.parcels }));
  return app;
}
