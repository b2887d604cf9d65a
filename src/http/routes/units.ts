import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { OpenGuard } from '../../bus/open-guard.js';
import type { UnitStore } from '../../store/units.js';
import type { AppEnv } from '../app.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, UnitIdParam, UnitSchema, json, unitView } from '../schemas.js';

/** A unit as anyone sees it: its live state, and whether a lockdown stops its doors (its own or the fleet's). */
const UnitView = UnitSchema.extend({
  lockedDown: z.boolean().openapi({ description: 'doors open for admins only (the unit or the fleet is locked down); details: GET /v1/admin/lockdown' }),
}).openapi('UnitView');

export function unitRoutes(deps: { store: UnitStore; opens?: OpenGuard | null }) {
  const app = new OpenAPIHono<AppEnv>();
  const lockdowns = async () => (deps.opens ? deps.opens.overview() : { fleet: null, units: {} as Record<string, unknown> });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units',
      tags: ['units'],
      summary: 'Every unit with the live state of each compartment, and the lockdowns in force',
      responses: {
        200: json(z.object({ units: z.array(UnitView), fleet: z.object({ lockedDown: z.boolean() }) }), 'all units'),
      },
    }),
    async (c) => {
      const [units, l] = await Promise.all([deps.store.units(), lockdowns()]);
      return c.json({ units: units.map((u) => ({ ...unitView(u), lockedDown: Boolean(l.fleet ?? l.units[u.id]) })), fleet: { lockedDown: l.fleet !== null } }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units/{id}',
      tags: ['units'],
      summary: 'One unit and its compartments',
      request: { params: UnitIdParam },
      responses: { 200: json(UnitView, 'the unit'), 404: json(ErrorSchema, 'no such unit') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const unit = await deps.store.unit(id);
      if (!unit) throw new ApiError(404, 'not_found', `no unit ${id}`);
      const lockedDown = deps.opens ? (await deps.opens.lockdownOf(id)) !== null : false;
      return c.json({ ...unitView(unit), lockedDown }, 200);
    },
  );

  return app;
}
