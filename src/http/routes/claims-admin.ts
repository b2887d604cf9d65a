import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ClaimError } from '../../claims/errors.js';
import type { ClaimExport } from '../../claims/export.js';
import type { Claims } from '../../claims/index.js';
import { CLAIM_STATES, OUTCOMES, type ClaimCommand, type ClaimState } from '../../domain/claims.js';
import { STAGES } from '../../domain/claim-clocks.js';
import { staffActor } from '../../staff/types.js';
import { staffAuth, type StaffAuthDeps, type StaffEnv } from '../auth.js';
import { json, jsonBody } from '../schemas.js';
import { isoTime } from '../time.js';
import { recordStaffAction } from '../staff-actions.js';
import { claimPage } from './claims-print.js';
import {
  ClaimId,
  Description,
  Note,
  StaffClaim,
  StaffClaimSummary,
  Subject,
  claimErrors,
  clocksView,
  isoRecord,
  logLine,
  mapClaimError,
  needSubject,
  staffSummary,
  subjectMessage,
} from './claims-schemas.js';
import { Phone } from './parcels.js';
import { staffSecurity } from './staff-schemas.js';

const OptionalNote = z.object({ note: Note.optional() });

const ListQuery = z.object({
  state: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const states = v ? v.split(',').map((s) => s.trim()) : [];
      const bad = states.filter((s) => !(CLAIM_STATES as readonly string[]).includes(s));
      if (bad.length) ctx.addIssue({ code: 'custom', message: `unknown state ${bad.join(', ')} (one or more of ${CLAIM_STATES.join(', ')})` });
      return states as ClaimState[];
    })
    .openapi({ description: `one or more of ${CLAIM_STATES.join(', ')}, comma-separated`, example: 'open,acknowledged' }),
  clock: z.enum(STAGES).optional().openapi({ description: 'the worse of the two clocks: ok, near (80 % used), breached' }),
  unit: z.string().min(1).max(64).optional(),
  phone: Phone.optional().openapi({ description: "a resident's claims (someone on the phone)" }),
  minAgeHours: z.coerce.number().min(0).optional().openapi({ description: 'opened at least this many hours ago' }),
  maxAgeHours: z.coerce.number().min(0).optional().openapi({ description: 'opened at most this many hours ago' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/**
 * The office's side of claims (any signed-in member): take a claim down for a resident, list and filter, see one in
 * full with its parcel's evidence timeline, move it along, note, export (JSON) and print (A4). Every change is
 * written with its evidence entry naming the member (the claim's step, office chain); viewing a full phone number,
 * exporting and printing are recorded staff actions.
 */
export function adminClaimRoutes(deps: { claims: Claims; auth: StaffAuthDeps; now: () => number }) {
  const app = new OpenAPIHono<StaffEnv>();
  const svc = deps.claims.service;
  const staff = staffAuth(deps.auth);
  app.use('/v1/admin/claims', staff);
  app.use('/v1/admin/claims/*', staff);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/claims',
      tags: ['claims'],
      security: staffSecurity,
      summary: "Open a claim on a resident's behalf (they called or came to the office); the channel is recorded",
      request: jsonBody(
        z
          .object({ phone: Phone, channel: z.enum(['phone', 'visit', 'other']), ...Subject, description: Description })
          .refine(needSubject, subjectMessage)
          .openapi('StaffClaimRequest'),
      ),
      responses: { 201: json(StaffClaim, 'opened'), ...claimErrors(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const v = await svc
        .open({ phone: b.phone, channel: b.channel, description: b.description, parcelId: b.parcelId, trackingNumber: b.trackingNumber, carrier: b.carrier }, staffActor(c.var.staff))
        .catch(mapClaimError);
      return c.json(await full(v.claim.id), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/claims',
      tags: ['claims'],
      security: staffSecurity,
      summary: 'Claims, newest first, filtered by state, clock, unit, phone and age (phones masked)',
      request: { query: ListQuery },
      responses: { 200: json(z.object({ claims: z.array(StaffClaimSummary) }), 'claims'), ...claimErrors(400, 401, 403) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const list = await svc.list({
        limit: q.limit,
        ...(q.state.length ? { states: q.state } : {}),
        ...(q.clock ? { clock: q.clock } : {}),
        ...(q.unit ? { unit: q.unit } : {}),
        ...(q.phone ? { phone: q.phone } : {}),
        ...(q.minAgeHours !== undefined ? { minAgeMs: q.minAgeHours * 3600_000 } : {}),
        ...(q.maxAgeHours !== undefined ? { maxAgeMs: q.maxAgeHours * 3600_000 } : {}),
      });
      return c.json({ claims: list.map(staffSummary) }, 200);
    },
  );

  /** One claim in full (the resident's phone too, so who looked is recorded by the caller). */
  const full = async (id: string): Promise<z.infer<typeof StaffClaim>> => {
    const d = await svc.detail(id);
    if (!d) return mapClaimError(new ClaimError('not_found', 'no such claim'));
    return {
      ...staffSummary(d),
      phone: d.claim.phone,
      clocks: clocksView(d.clocks),
      log: d.log.map(logLine) as z.infer<typeof StaffClaim>['log'],
      actions: d.actions,
      parcel: d.parcel ? isoRecord(deps.claims.exports.parcelRecord(d.parcel)) : null,
      timeline: d.timeline.map((i) => isoRecord(i)),
    };
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/claims/{id}',
      tags: ['claims'],
      security: staffSecurity,
      summary: "A claim in full: the resident's phone, its log, clocks, the parcel and the parcel's evidence timeline",
      request: { params: ClaimId },
      responses: { 200: json(StaffClaim, 'the claim'), ...claimErrors(401, 403, 404) },
    }),
    async (c) => {
      const v = await full(c.req.valid('param').id);
      await recordStaffAction(c, 'claim.view', { claimId: v.id, ref: v.ref }, deps.now());
      return c.json(v, 200);
    },
  );

  const action = <T extends z.ZodType>(path: string, summary: string, schema: T, toCommand: (b: z.infer<T>) => ClaimCommand, required = true) =>
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/admin/claims/{id}/${path}`,
        tags: ['claims'],
        security: staffSecurity,
        summary,
        request: { params: ClaimId, ...jsonBody(schema, required) },
        responses: { 200: json(StaffClaim, 'the claim now'), ...claimErrors(400, 401, 403, 404, 409) },
      }),
      async (c) => {
        const id = c.req.param('id')!; // validated against ClaimId before this runs
        await svc.act(id, toCommand((c.req.valid('json' as never) ?? {}) as z.infer<T>), staffActor(c.var.staff)).catch(mapClaimError);
        return c.json(await full(id), 200);
      },
    );

  action('acknowledge', 'Acknowledge: the office has taken the claim up (stops the ack clock; the resident is texted)', OptionalNote, (b) => ({ action: 'acknowledge', note: b.note ?? null }), false);
  action('investigate', 'Investigate (also: carry on without the resident’s answer)', OptionalNote, (b) => ({ action: 'investigate', note: b.note ?? null }), false);
  action('ask', 'Ask the resident something: the claim waits for them and its resolve clock stands still (they are texted)', z.object({ question: text500() }), (b) => ({
    action: 'ask',
    question: b.question,
  }));
  action(
    'resolve',
    'Resolve with an outcome (rejected and other need a reason the resident is told); the resident is texted and may rate or reopen within 7 days',
    z.object({ outcome: z.enum(OUTCOMES), reason: text500().optional(), note: Note.optional() }).openapi('ClaimResolution'),
    (b) => ({ action: 'resolve', outcome: { kind: b.outcome, reason: b.reason ?? null }, note: b.note ?? null }),
  );
  action('close', 'Close a resolved claim (the resident may still reopen it within 7 days of the resolution)', OptionalNote, (b) => ({ action: 'close', note: b.note ?? null }), false);
  action('notes', 'Add a note (staff only: residents never see notes)', z.object({ text: Note }), (b) => ({ action: 'note', text: b.text }));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/claims/{id}/export',
      tags: ['claims'],
      security: staffSecurity,
      summary: 'The claim as a JSON file: claim, log, clocks, parcel, its evidence timeline and the claim’s own evidence, with chain positions and hashes',
      request: { params: ClaimId },
      responses: { 200: json(z.record(z.string(), z.unknown()).openapi('ClaimExport'), 'the record (Content-Disposition: attachment)'), ...claimErrors(401, 403, 404) },
    }),
    async (c) => {
      const x = await deps.claims.exports.build(c.req.valid('param').id, staffActor(c.var.staff)).catch(mapClaimError);
      await recordStaffAction(c, 'claim.export', { claimId: x.claim.id, ref: x.claim.ref }, deps.now());
      c.header('Content-Disposition', `attachment; filename="claim-${x.claim.ref}.json"`);
      return c.json(exportView(x), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/claims/{id}/print',
      tags: ['claims'],
      security: staffSecurity,
      summary: 'The claim as a printable page (A4, Chinese with English)',
      request: { params: ClaimId },
      responses: { 200: { description: 'an HTML page', content: { 'text/html': { schema: z.string() } } }, ...claimErrors(401, 403, 404) },
    }),
    async (c) => {
      const x = await deps.claims.exports.build(c.req.valid('param').id, staffActor(c.var.staff)).catch(mapClaimError);
      await recordStaffAction(c, 'claim.print', { claimId: x.claim.id, ref: x.claim.ref }, deps.now());
      return c.html(await claimPage(x), 200);
    },
  );
  return app;
}

/**
 * The export as the API writes it: times ISO 8601 (the claim, its log, clocks, parcel, timeline items); evidence
 * entries exactly as stored in their chain (epoch ms), so each can be checked against its hash.
 */
function exportView(x: ClaimExport): Record<string, unknown> {
  const { claim } = x;
  return {
    ...x,
    generatedAt: isoTime(x.generatedAt),
    claim: {
      ...isoRecord(claim),
      rating: claim.rating ? isoRecord(claim.rating) : null,
    },
    clocks: clocksView(x.clocks),
    log: x.log.map(logLine),
    parcel: x.parcel ? isoRecord(x.parcel) : null,
    timeline: x.timeline ? { ...x.timeline, items: x.timeline.items.map((i) => isoRecord(i)) } : null,
  };
}

function text500() {
  return z.string().trim().min(1, 'must not be empty').max(500, 'at most 500 characters');
}
