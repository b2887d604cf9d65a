import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Evidence } from '../../evidence/index.js';
import type { ParcelService } from '../../parcels/service.js';
import type { UnitStore } from '../../store/units.js';
import type { AppEnv } from '../app.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, EventSchema, UnitIdParam, json } from '../schemas.js';
import { Time, isoTime } from '../time.js';

const staffSecurity = [{ staffToken: [] }];

const BrokenLink = z
  .object({
    entry: z.string().nullable().openapi({ description: 'stream id of the entry where the chain breaks' }),
    n: z.number().int().openapi({ description: 'position in the chain' }),
    problem: z.enum(['altered', 'missing', 'relinked', 'truncated', 'unreadable']),
    expected: z.string(),
    found: z.string(),
  })
  .openapi('BrokenLink');

const ChainReport = z
  .object({
    chain: z.string().openapi({ example: 'unit:LSN-0001' }),
    ok: z.boolean(),
    checked: z.number().int(),
    from: z.number().int(),
    to: z.number().int(),
    checkpoint: z.object({ n: z.number().int(), at: Time }).nullable(),
    broken: BrokenLink.nullable(),
  })
  .openapi('ChainReport');

const TimelineItem = z
  .object({
    streamId: z.string(),
    n: z.number().int().openapi({ description: "position in the unit's chain" }),
    hash: z.string(),
    at: Time,
    kind: z.string(),
    origin: z.enum(['unit', 'reconciled', 'gateway']),
    entry: z.record(z.string(), z.unknown()),
  })
  .openapi('TimelineItem');

/** Staff-only: the units' evidence chains, their verification, a parcel's timeline, and the engine's dead letters. */
export function evidenceRoutes(deps: { store: UnitStore; evidence: Evidence; parcels: ParcelService; staff: MiddlewareHandler }) {
  const app = new OpenAPIHono<AppEnv>();
  app.use('/v1/units/:id/events', deps.staff);
  app.use('/v1/admin/evidence/*', deps.staff);
  app.use('/v1/admin/parcels/:id/timeline', deps.staff);
  app.use('/v1/admin/dead-letters', deps.staff);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units/{id}/events',
      tags: ['evidence'],
      security: staffSecurity,
      summary: "The unit's evidence chain, newest first: facts, transitions, commands, notices and staff actions",
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
      responses: { 200: json(z.object({ events: z.array(EventSchema) }), 'entries'), 401: json(ErrorSchema, 'staff only'), 404: json(ErrorSchema, 'no such unit') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { limit, before } = c.req.valid('query');
      if (!(await deps.store.unit(id))) throw new ApiError(404, 'not_found', `no unit ${id}`);
      const events = await deps.store.events(id, { limit, ...(before ? { before } : {}) });
      return c.json({ events: events as unknown as { streamId: string; event: Record<string, unknown> }[] }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/evidence/verify',
      tags: ['evidence'],
      security: staffSecurity,
      summary: 'Walk every evidence chain and report, for each, the entries checked and the first broken link',
      responses: { 200: json(z.object({ ok: z.boolean(), chains: z.array(ChainReport) }), 'one report per chain'), 401: json(ErrorSchema, 'staff only') },
    }),
    async (c) => {
      const chains = await deps.evidence.verifier.verifyAll();
      const view = chains.map((r) => ({ ...r, checkpoint: r.checkpoint ? { ...r.checkpoint, at: isoTime(r.checkpoint.at) } : null }));
      return c.json({ ok: chains.every((r) => r.ok), chains: view }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/parcels/{id}/timeline',
      tags: ['evidence'],
      security: staffSecurity,
      summary: "A parcel's evidence timeline: deposit, door and sensor events while inside, codes typed at the unit, notices, staff opens, the end",
      request: { params: z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: {
        200: json(z.object({ parcel: z.string(), unit: z.string(), compartment: z.number().int(), items: z.array(TimelineItem) }), 'the timeline, in chain order'),
        401: json(ErrorSchema, 'staff only'),
        404: json(ErrorSchema, 'no such parcel (or trimmed by retention)'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const p = await deps.parcels.get(id);
      if (!p) throw new ApiError(404, 'not_found', 'no such parcel (or past the evidence retention period)');
      const items = await deps.evidence.timelines.of(p);
      return c.json({ parcel: p.id, unit: p.unit, compartment: p.compartment, items: (items as unknown as { streamId: string; n: number; hash: string; at: number; kind: string; origin: "unit" | "reconciled" | "gateway"; entry: Record<string, never> }[]).map((i) => ({ ...i, at: isoTime(i.at) })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/dead-letters',
      tags: ['evidence'],
      security: staffSecurity,
      summary: 'Unit events the parcel engine set aside after repeated failures, newest first',
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }) },
      responses: { 200: json(z.object({ deadLetters: z.array(z.record(z.string(), z.string())) }), 'dead letters'), 401: json(ErrorSchema, 'staff only') },
    }),
    async (c) => {
      const rows = await deps.evidence.log.redis.xrevrange(deps.evidence.log.k.deadLetter, '+', '-', 'COUNT', c.req.valid('query').limit);
      const deadLetters = rows.map(([id, f]) => {
        const o: Record<string, string> = { deadLetterId: id };
        for (let i = 0; i + 1 < f.length; i += 2) o[f[i]!] = f[i + 1]!;
        return o;
      });
      return c.json({ deadLetters }, 200);
    },
  );
  return app;
}
