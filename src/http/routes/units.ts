import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { UnitStore } from '../../store/units.js';
import type { AppEnv } from '../app.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, UnitIdParam, UnitSchema, json, unitView } from '../schemas.js';


export function unitRoutes(deps: { store: UnitStore }) {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units',
      tags: ['units'],
      summary: 'Every unit with the live state of each compartment',
      responses: { 200: json(z.object({ units: z.array(UnitSchema) }), 'all units') },
    }),
    async (c) => c.json({ units: (await deps.store.units()).map(unitView) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units/{id}',
      tags: ['units'],
      summary: 'One unit and its compartments',
      request: { params: UnitIdParam },
      responses: { 200: json(UnitSchema, 'the unit'), 404: json(ErrorSchema, 'no such unit') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const unit = await deps.store.unit(id);
      if (!unit) throw new ApiError(404, 'not_found', `no unit ${id}`);
      return c.json(unitView(unit), 200);
    },
  );

  return app;
}
