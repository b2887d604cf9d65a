import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { MONTH_RE } from '../../claims/figures.js';
import type { MonthlyReports } from '../../claims/report.js';
import { requireRole, staffAuth, type StaffAuthDeps, type StaffEnv } from '../auth.js';
import { json } from '../schemas.js';
import { Time, isoTime } from '../time.js';
import { claimErrors } from './claims-schemas.js';
import { staffSecurity } from './staff-schemas.js';

const Figure = z
  .object({ value: z.number().nullable(), previous: z.number().nullable(), change: z.number().nullable().openapi({ description: 'value − previous' }) })
  .openapi('ReportFigure');
const Pair = z.object({ median: Figure, p90: Figure });
const MonthlyReport = z
  .object({
    month: z.string(),
    previousMonth: z.string(),
    timeZone: z.string(),
    from: Time,
    to: Time.openapi({ description: 'the first instant after the month' }),
    asOf: Time,
    claims: z.object({
      opened: Figure,
      byOutcome: z.record(z.string(), Figure).openapi({ description: 'found, wrong_person, compensated, rejected, other, unresolved' }),
      timeToAcknowledgeMs: Pair,
      timeToResolveMs: Pair,
      withinAckClock: Figure,
      withinResolveClock: Figure,
      resolutionRate: Figure,
      averageRating: Figure,
      ratings: Figure,
      reopened: Figure,
    }),
    lockers: z.object({ deposits: Figure, collections: Figure, overdue: Figure, returns: Figure }),
    definitions: z.record(z.string(), z.string()),
  })
  .openapi('MonthlyReport');

/** The office's month, for those who answer for it (admins): claims and lockers beside the month before. */
export function reportRoutes(deps: { reports: MonthlyReports; auth: StaffAuthDeps }) {
  const app = new OpenAPIHono<StaffEnv>();
  app.use('/v1/admin/reports/*', staffAuth(deps.auth), requireRole('admin'));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/reports/monthly',
      tags: ['claims'],
      security: staffSecurity,
      summary: 'Monthly report (admin): claims opened and by outcome, time to acknowledge and resolve, share within each clock, resolution rate, ratings, lockers served; each beside the previous month',
      request: { query: z.object({ month: z.string().regex(MONTH_RE, 'YYYY-MM, e.g. 2026-11').openapi({ example: '2026-11' }) }) },
      responses: { 200: json(MonthlyReport, 'the report'), ...claimErrors(400, 401, 403) },
    }),
    async (c) => {
      const r = await deps.reports.monthly(c.req.valid('query').month);
      return c.json({ ...r, from: isoTime(r.from), to: isoTime(r.to), asOf: isoTime(r.asOf) }, 200);
    },
  );
  return app;
}
