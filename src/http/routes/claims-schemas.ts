import { z } from '@hono/zod-openapi';
import { ClaimError } from '../../claims/errors.js';
import type { ClaimView } from '../../claims/service.js';
import { CLOCK_NAMES, STAGES, type ClaimClocks, type ClockView } from '../../domain/claim-clocks.js';
import { allowedActions, CLAIM_ACTIONS, CLAIM_CHANNELS, CLAIM_STATES, ClaimRuleError, OUTCOMES, reopenableUntil, type ClaimActor, type ClaimEvent } from '../../domain/claims.js';
import { maskPhone } from '../../notify/phone.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, json } from '../schemas.js';
import { Time, isoTime, withIsoTimes } from '../time.js';

/** Schemas, views and error mapping shared by the residents' and the staff's claim routes. */

const text = (max: number, what: string) => z.string().trim().min(1, `${what} must not be empty`).max(max, `at most ${max} characters`);
export const Description = text(1000, 'description').openapi({ example: '快递显示已签收，但我没有收到。The tracking says delivered; I never got it.' });
export const Note = text(1000, 'note');
export const Tracking = z.string().regex(/^[A-Za-z0-9-]{4,40}$/, '4 to 40 letters, digits or -').openapi({ example: 'SF1234567890' });
export const Carrier = z.string().regex(/^[A-Za-z0-9_-]{1,20}$/, '1 to 20 letters, digits, _ or -').openapi({ example: 'SF' });
export const ClaimId = z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' }, example: 'cl_01jd…' }) });

/** A claim is about a parcel (its id) or a tracking number (with the carrier, if known). */
export const Subject = {
  parcelId: z.string().min(1).max(64).optional().openapi({ description: 'a parcel the gateway knows (from my parcels)' }),
  trackingNumber: Tracking.optional().openapi({ description: 'or a tracking number, also one the gateway never saw' }),
  carrier: Carrier.optional(),
};
export const needSubject = <T extends { parcelId?: string | undefined; trackingNumber?: string | undefined }>(b: T) => Boolean(b.parcelId ?? b.trackingNumber);
export const subjectMessage = { message: 'give parcelId or trackingNumber', path: ['trackingNumber'] };

const OutcomeSchema = z.object({ kind: z.enum(OUTCOMES), reason: z.string().nullable() }).openapi('ClaimOutcome');
const SubjectSchema = z
  .object({
    parcelId: z.string().nullable(),
    trackingNumber: z.string().nullable(),
    carrier: z.string().nullable(),
    unit: z.string().nullable(),
    compartment: z.number().int().nullable(),
  })
  .openapi('ClaimSubject');
const RatingSchema = z.object({ score: z.number().int().min(1).max(5), comment: z.string().nullable(), at: Time }).openapi('ClaimRating');
const Actor = z.record(z.string(), z.unknown()).openapi({ description: "who: {type:'staff',id,name} | {type:'resident',phone (masked)} | {type:'system',id}" });

const common = {
  id: z.string(),
  ref: z.string().openapi({ example: 'K00042', description: 'short number for texts, calls and paper' }),
  state: z.enum(CLAIM_STATES),
  channel: z.enum(CLAIM_CHANNELS),
  subject: SubjectSchema,
  description: z.string(),
  openedAt: Time,
  acknowledgedAt: Time.nullable(),
  resolvedAt: Time.nullable(),
  closedAt: Time.nullable(),
  outcome: OutcomeSchema.nullable(),
  question: z.string().nullable().openapi({ description: 'what the office asked, while waiting for the resident' }),
  rating: RatingSchema.nullable(),
  reopenableUntil: Time.nullable().openapi({ description: 'the resident may reopen until then (7 days after the resolution)' }),
};

export const ResidentClaim = z
  .object({
    ...common,
    actions: z.array(z.enum(CLAIM_ACTIONS)).openapi({ description: 'what I may do now: answer, reopen, rate' }),
    history: z.array(
      z.object({ at: Time, action: z.enum(CLAIM_ACTIONS), from: z.enum(CLAIM_STATES).nullable(), to: z.enum(CLAIM_STATES), by: z.enum(['you', 'office', 'system']), note: z.string().nullable() }),
    ),
  })
  .openapi('ResidentClaim');

const ClockSchema = z
  .object({
    name: z.enum(CLOCK_NAMES),
    limitMs: z.number(),
    startedAt: Time,
    elapsedMs: z.number(),
    remainingMs: z.number(),
    stoppedAt: Time.nullable(),
    paused: z.boolean(),
    dueAt: Time.nullable(),
    nearAt: Time.nullable(),
    stage: z.enum(STAGES),
    met: z.boolean().nullable(),
  })
  .openapi('ClaimClock');
export const ClocksSchema = z.object({ round: z.number().int(), stage: z.enum(STAGES), ack: ClockSchema, resolve: ClockSchema }).openapi('ClaimClocks');
const LogLine = z
  .object({
    at: Time,
    action: z.enum(CLAIM_ACTIONS),
    from: z.enum(CLAIM_STATES).nullable(),
    to: z.enum(CLAIM_STATES),
    by: Actor,
    note: z.string().nullable(),
    outcome: OutcomeSchema.optional(),
    rating: z.object({ score: z.number().int(), comment: z.string().nullable() }).optional(),
  })
  .openapi('ClaimLogLine');

export const StaffClaimSummary = z
  .object({ ...common, phone: z.string().openapi({ description: 'masked in lists: 138****8000' }), openedBy: Actor, reopened: z.number().int(), updatedAt: Time, clocks: ClocksSchema })
  .openapi('ClaimSummary');
export const StaffClaim = StaffClaimSummary.extend({
  phone: z.string().openapi({ description: "the resident's full number (viewing it is a recorded staff action)" }),
  log: z.array(LogLine),
  actions: z.array(z.enum(CLAIM_ACTIONS)).openapi({ description: 'what staff may do now' }),
  parcel: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'the parcel the claim is about (ParcelRecord), if the gateway knows it' }),
  timeline: z.array(z.record(z.string(), z.unknown())).openapi({ description: "the parcel's evidence timeline (TimelineItem), in chain order" }),
}).openapi('Claim');

/** A resident acting on their claim, as the claim's log and the evidence record them: by masked phone. */
export const residentActor = (phone: string): ClaimActor => ({ type: 'resident', phone: maskPhone(phone) });

const who = (e: ClaimEvent): 'you' | 'office' | 'system' => (e.by.type === 'resident' ? 'you' : e.by.type === 'staff' ? 'office' : 'system');

/** What a resident sees: their claim and its history, without staff's internal notes or names. */
export function residentClaim(v: ClaimView, now: number): z.infer<typeof ResidentClaim> {
  const { claim } = v;
  return {
    ...pickCommon(v),
    actions: allowedActions(claim, 'resident', now),
    history: v.log.filter((e) => e.action !== 'note').map((e) => ({ at: isoTime(e.at), action: e.action, from: e.from, to: e.to, by: who(e), note: e.note })),
  };
}

/** A line of a claim's log as staff see it (the actor in full). */
export const logLine = (e: ClaimEvent) => ({ ...e, at: isoTime(e.at) });

/** Records with time fields (a parcel's record, timeline items: their top level; an evidence entry stays as stored). */
export const isoRecord = <T extends object>(r: T) => withIsoTimes(r);

/** A claim in a staff list: the phone masked, no log. */
export function staffSummary(v: ClaimView): z.infer<typeof StaffClaimSummary> {
  const { claim } = v;
  return { ...pickCommon(v), phone: maskPhone(claim.phone), openedBy: claim.openedBy, reopened: claim.reopened, updatedAt: isoTime(claim.updatedAt), clocks: clocksView(v.clocks) };
}

function pickCommon(v: ClaimView) {
  const c = v.claim;
  return {
    id: c.id,
    ref: c.ref,
    state: c.state,
    channel: c.channel,
    subject: c.subject,
    description: c.description,
    openedAt: isoTime(c.openedAt),
    acknowledgedAt: isoTime(c.acknowledgedAt),
    resolvedAt: isoTime(c.resolvedAt),
    closedAt: isoTime(c.closedAt),
    outcome: c.outcome,
    question: c.question,
    rating: c.rating ? { ...c.rating, at: isoTime(c.rating.at) } : null,
    reopenableUntil: isoTime(reopenableUntil(c)),
  };
}

const clock = (c: ClockView) => ({ ...c, startedAt: isoTime(c.startedAt), stoppedAt: isoTime(c.stoppedAt), dueAt: isoTime(c.dueAt), nearAt: isoTime(c.nearAt) });
export const clocksView = (c: ClaimClocks) => ({ round: c.round, stage: c.stage, ack: clock(c.ack), resolve: clock(c.resolve) });

const TEXT: Record<number, string> = {
  400: 'a field is invalid (named in the message)',
  401: 'not signed in (resident token, or staff session or token)',
  403: 'wrong role, cross-site request, missing CSRF token, or not allowed for this kind of user',
  404: 'no such claim (or not yours), or no such parcel',
  409: 'the claim is not in a state for this (details.state), already rated, reopening window over, or a claim about this parcel is open',
  429: 'too many unresolved claims',
};
export const claimErrors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, json(ErrorSchema, TEXT[c] ?? 'error')])) as Record<number, ReturnType<typeof json>>;

/** The claim service's and the state machine's refusals in the API's terms; anything else is rethrown as is. */
export function mapClaimError(err: unknown): never {
  if (err instanceof ClaimError) {
    switch (err.code) {
      case 'not_found':
        throw new ApiError(404, 'not_found', err.message, err.details);
      case 'duplicate':
      case 'busy':
        throw new ApiError(409, 'conflict', err.message, { reason: err.code, ...err.details });
      case 'too_many_open':
        throw new ApiError(429, 'rate_limited', err.message, { reason: err.code, ...err.details });
    }
  }
  if (err instanceof ClaimRuleError) {
    switch (err.code) {
      case 'invalid': {
        const field = typeof err.details?.field === 'string' ? err.details.field : 'body';
        throw new ApiError(400, 'validation_failed', `${field}: ${err.message}`, { fields: [{ field, problem: err.message }], in: 'json' });
      }
      case 'not_allowed':
        throw new ApiError(403, 'forbidden', err.message);
      default:
        throw new ApiError(409, 'conflict', err.message, { reason: err.code, ...err.details });
    }
  }
  throw err;
}
