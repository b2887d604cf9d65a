import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { ClaimService } from '../../claims/service.js';
import type { ClaimCommand } from '../../domain/claims.js';
import type { ResidentSessions } from '../deps.js';
import { residentAuth, type ResidentEnv } from '../auth.js';
import { json, jsonBody } from '../schemas.js';
import { ClaimId, Description, Note, ResidentClaim, Subject, claimErrors, mapClaimError, needSubject, residentActor, residentClaim, subjectMessage } from './claims-schemas.js';

const security: Record<string, string[]>[] = [{ residentToken: [] }];

/**
 * Residents' own claims, with the token of their SMS sign-in: open one (about a parcel of theirs or a tracking
 * number), follow it, answer the office's question, reopen it within 7 days of its resolution, rate it once.
 * Another resident's claim is "not found". Thin: the claim service does the work.
 */
export function residentClaimRoutes(deps: { claims: ClaimService; signIn: Pick<ResidentSessions, 'authenticate'>; now: () => number }) {
  const app = new OpenAPIHono<ResidentEnv>();
  const svc = deps.claims;
  const auth = residentAuth(deps.signIn);
  app.use('/v1/claims', auth);
  app.use('/v1/claims/*', auth);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/claims',
      tags: ['claims'],
      security,
      summary: 'Open a claim about a lost parcel (mine, by id or tracking number, or a tracking number the gateway never saw)',
      description: 'I am texted the claim number; the office acknowledges within CLAIM_ACK_HOURS and resolves within CLAIM_RESOLVE_HOURS.',
      request: jsonBody(z.object({ ...Subject, description: Description }).refine(needSubject, subjectMessage).openapi('ClaimRequest')),
      responses: { 201: json(ResidentClaim, 'opened'), ...claimErrors(400, 401, 404, 409, 429) },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const phone = c.var.resident.phone;
      const v = await svc
        .open({ phone, channel: 'app', description: b.description, parcelId: b.parcelId, trackingNumber: b.trackingNumber, carrier: b.carrier }, residentActor(phone))
        .catch(mapClaimError);
      return c.json(residentClaim(v, deps.now()), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/claims',
      tags: ['claims'],
      security,
      summary: 'My claims, newest first',
      responses: { 200: json(z.object({ claims: z.array(ResidentClaim) }), 'mine'), ...claimErrors(401) },
    }),
    async (c) => {
      const now = deps.now();
      return c.json({ claims: (await svc.listOwn(c.var.resident.phone)).map((v) => residentClaim(v, now)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/claims/{id}',
      tags: ['claims'],
      security,
      summary: 'One of my claims, with its history',
      request: { params: ClaimId },
      responses: { 200: json(ResidentClaim, 'mine'), ...claimErrors(401, 404) },
    }),
    async (c) => c.json(residentClaim(await svc.getOwn(c.req.valid('param').id, c.var.resident.phone).catch(mapClaimError), deps.now()), 200),
  );

  const action = (path: string, summary: string, schema: z.ZodType, toCommand: (b: never) => ClaimCommand) =>
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/claims/{id}/${path}`,
        tags: ['claims'],
        security,
        summary,
        request: { params: ClaimId, ...jsonBody(schema) },
        responses: { 200: json(ResidentClaim, 'the claim now'), ...claimErrors(400, 401, 403, 404, 409) },
      }),
      async (c) => {
        const phone = c.var.resident.phone;
        const cmd = toCommand(c.req.valid('json' as never) as never);
        const v = await svc.act(c.req.valid('param').id, cmd, residentActor(phone), phone).catch(mapClaimError);
        return c.json(residentClaim(v, deps.now()), 200);
      },
    );

  action('answer', 'Answer the office’s question (while the claim waits for me): its resolve clock runs again', z.object({ text: Note }).openapi('ClaimAnswer'), (b: { text: string }) => ({
    action: 'answer',
    text: b.text,
  }));
  action('reopen', 'Reopen a resolved claim, within 7 days of its resolution: the clocks start again', z.object({ reason: Note }).openapi('ClaimReopen'), (b: { reason: string }) => ({
    action: 'reopen',
    reason: b.reason,
  }));
  action(
    'rating',
    'Rate how the claim was resolved, 1 to 5, with a comment; once',
    z.object({ score: z.number().int().min(1).max(5), comment: z.string().trim().max(500).optional() }).openapi('ClaimRatingRequest'),
    (b: { score: number; comment?: string }) => ({ action: 'rate', score: b.score, comment: b.comment ?? null }),
  );
  return app;
}
