import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { CommandBus } from '../../bus/commands.js';
import type { Lockdown, OpenGuard } from '../../bus/open-guard.js';
import type { ParcelService } from '../../parcels/service.js';
import { staffActor } from '../../staff/types.js';
import { requireRole, staffAuth, type StaffAuthDeps, type StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, UnitIdParam, json } from '../schemas.js';
import { recordStaffAction } from '../staff-actions.js';
import { Time, withIsoTimes } from '../time.js';
import { staffSecurity } from './staff-schemas.js';

export const LockdownView = z
  .object({
    scope: z.enum(['unit', 'fleet']),
    unit: z.string().nullable(),
    since: Time,
    cause: z.enum(['burst', 'manual']).openapi({ description: 'burst: tripped by unexplained opens; manual: a staff member' }),
    reason: z.string(),
    by: z.record(z.string(), z.unknown()).openapi({ description: 'the actor: the open guard (system) or the member' }),
  })
  .openapi('Lockdown');

/** A lockdown as the API shows it (its time in ISO 8601 with the community's offset). */
function view(l: Lockdown): z.infer<typeof LockdownView>;
function view(l: Lockdown | null): z.infer<typeof LockdownView> | null;
function view(l: Lockdown | null): z.infer<typeof LockdownView> | null {
  return l ? (withIsoTimes(l) as z.infer<typeof LockdownView>) : null;
}

const ReasonBody = z.object({ reason: z.string().trim().min(3).max(200) }).openapi('LockdownRequest');
const errors = {
  400: json(ErrorSchema, 'bad field'),
  401: json(ErrorSchema, 'staff only'),
  403: json(ErrorSchema, 'lifting needs the admin role, or cross-site'),
  404: json(ErrorSchema, 'no such unit, or no lockdown in force'),
};

/**
 * Locking down and lifting, as a member does it from the API or the console: the guard's step, the staff action
 * recorded, and the units' screens told (a lifted unit shows it is back in service, then its presence code).
 */
export function lockdownActions(deps: { opens: OpenGuard; commands: CommandBus; parcels: ParcelService }) {
  const backInService = (units: string[]) => {
    for (const unit of units) {
      void deps.parcels.display(unit, '已恢复使用', 'In service again', 10).then(() => deps.parcels.screen.presence(unit));
    }
  };
  const lock = async (c: Context<StaffEnv>, unit: string | null, reason: string) => {
    const member = c.get('staff');
    const r = await deps.opens.lockDown(unit, staffActor(member), reason);
    await recordStaffAction(c, 'lockdown', { ...(unit ? { unit } : {}), reason, created: r.created });
    if (r.created) deps.commands.showLockdown(r.lockdown);
    return r;
  };
  const lift = async (c: Context<StaffEnv>, unit: string | null): Promise<Lockdown> => {
    const lifted = await deps.opens.lift(unit, staffActor(c.get('staff')));
    if (!lifted) throw new ApiError(404, 'not_found', unit ? `unit ${unit} is not locked down` : 'the fleet is not locked down');
    await recordStaffAction(c, 'lockdown.lift', { ...(unit ? { unit } : {}), lockedSince: lifted.since, cause: lifted.cause });
    const still = await deps.opens.overview();
    backInService(Object.keys(still.units).filter((u) => (unit === null || u === unit) && !still.units[u] && !still.fleet));
    return lifted;
  };

  return { lock, lift };
}

/**
 * Emergency lockdown of a unit or the whole fleet (src/bus/open-guard.ts): every open is refused but an admin's. Any
 * staff member may lock down (with a reason); only an admin may lift, whether staff or the open guard locked it.
 */
export function lockdownRoutes(deps: { auth: StaffAuthDeps; opens: OpenGuard; commands: CommandBus; parcels: ParcelService }) {
  const app = new OpenAPIHono<StaffEnv>();
  const staff = staffAuth(deps.auth);
  app.use('/v1/admin/lockdown', staff);
  app.use('/v1/admin/lockdown/*', staff);
  app.on('DELETE', ['/v1/admin/lockdown', '/v1/admin/lockdown/*'], requireRole('admin'));

  const { lock, lift } = lockdownActions(deps);
  const unitOf = (id: string) => deps.parcels.profile(id).id;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/lockdown',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Lockdowns in force: the fleet and each unit',
      responses: {
        200: json(z.object({ fleet: LockdownView.nullable(), units: z.array(z.object({ unit: z.string(), lockdown: LockdownView.nullable() })) }), 'in force'),
        401: errors[401],
      },
    }),
    async (c) => {
      const o = await deps.opens.overview();
      return c.json({ fleet: view(o.fleet), units: Object.entries(o.units).map(([unit, lockdown]) => ({ unit, lockdown: view(lockdown) })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/lockdown',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Lock the whole fleet down: every open refused but an admin’s, staff alerted',
      request: { body: { content: { 'application/json': { schema: ReasonBody } }, required: true } },
      responses: { 201: json(LockdownView, 'locked down'), 200: json(LockdownView, 'already locked down (kept as it was)'), ...errors },
    }),
    async (c) => {
      const r = await lock(c, null, c.req.valid('json').reason);
      return c.json(view(r.lockdown), r.created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/lockdown',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Lift the fleet lockdown (admins only; units locked down on their own stay so)',
      responses: { 200: json(z.object({ lifted: LockdownView }), 'lifted'), ...errors },
    }),
    async (c) => c.json({ lifted: view(await lift(c, null)) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/lockdown/{id}',
      tags: ['staff'],
      security: staffSecurity,
      summary: 'Lock one unit down: every open there refused but an admin’s, staff alerted',
      request: { params: UnitIdParam, body: { content: { 'application/json': { schema: ReasonBody } }, required: true } },
      responses: { 201: json(LockdownView, 'locked down'), 200: json(LockdownView, 'already locked down (kept as it was)'), ...errors },
    }),
    async (c) => {
      const r = await lock(c, unitOf(c.req.valid('param').id), c.req.valid('json').reason);
      return c.json(view(r.lockdown), r.created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/admin/lockdown/{id}',
      tags: ['staff'],
      security: staffSecurity,
      summary: "Lift a unit's lockdown (admins only)",
      request: { params: UnitIdParam },
      responses: { 200: json(z.object({ lifted: LockdownView }), 'lifted'), ...errors },
    }),
    async (c) => c.json({ lifted: view(await lift(c, unitOf(c.req.valid('param').id))) }, 200),
  );

  return app;
}
