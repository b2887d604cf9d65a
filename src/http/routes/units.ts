import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { UnitStore } from '../../store/units.js';
import type { AppEnv } from '../app.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, EventSchema, UnitIdParam, UnitSchema, json, unitView } from '../schemas.js';
import { withIsoTimes } from '../time.js';


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

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units/{id}/events',
      tags: ['units'],
      summary: "The unit's event log, newest first (append-only; source ids kept)",
      request: {
        params: UnitIdParam,
        query: z.object({
          limit: z.coerce.number().int().min(1).max(500).default(50),
          before: z
            .string()
            .regex(/^\d+-\d+$/, 'must be a stream id like 1732600000000-0')
            .optional(),
        }),
      },
      responses: { 200: json(z.object({ events: z.array(EventSchema) }), 'events'), 404: json(ErrorSchema, 'no such unit') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { limit, before } = c.req.valid('query');
      if (!(await deps.store.unit(id))) throw new ApiError(404, 'not_found', `no unit ${id}`);
      const events = await deps.store.events(id, { limit, ...(before ? { before } : {}) });
      const view = (events as unknown as { streamId: string; event: Record<string, unknown> }[]).map((e) => ({ ...e, event: withIsoTimes(e.event) }));
      return c.json({ events: view }, 200);
    },
  );
  return app;
}
