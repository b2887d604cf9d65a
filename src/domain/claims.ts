/**
 * Lost-parcel claims: one state machine, in one place, with no I/O. The claim service reads a claim, asks decide()
 * for the next claim and the line it adds to the claim's own log, and writes both in one atomic step with their
 * evidence and notices. The response and resolution clocks are computed from that log (domain/claim-clocks.ts).
 *
 * open -> acknowledged -> investigating (<-> waiting_resident) -> resolved(outcome) -> closed.
 * Staff may resolve from acknowledged, investigating or waiting_resident (a parcel found at once needs no
 * investigation). The resident may reopen within REOPEN_WINDOW_MS of the resolution, from resolved or closed: the
 * claim is open again and a new round of clocks starts. The resident rates the resolution once (1–5).
 */

export const CLAIM_STATES = ['open', 'acknowledged', 'investigating', 'waiting_resident', 'resolved', 'closed'] as const;
export type ClaimState = (typeof CLAIM_STATES)[number];

/** States in which the office still owes the resident an answer (the clocks run, alerts may fire). */
export const ACTIVE_CLAIM_STATES: ReadonlySet<ClaimState> = new Set(['open', 'acknowledged', 'investigating', 'waiting_resident']);

export const OUTCOMES = ['found', 'wrong_person', 'compensated', 'rejected', 'other'] as const;
export type OutcomeKind = (typeof OUTCOMES)[number];

/** How the claim reached the office: the resident themselves (`app`, with their token), or staff taking it down. */
export const CLAIM_CHANNELS = ['app', 'phone', 'visit', 'other'] as const;
export type ClaimChannel = (typeof CLAIM_CHANNELS)[number];

export const CLAIM_ACTIONS = ['open', 'acknowledge', 'investigate', 'ask', 'answer', 'resolve', 'close', 'reopen', 'rate', 'note'] as const;
export type ClaimAction = (typeof CLAIM_ACTIONS)[number];

export const REOPEN_WINDOW_MS = 7 * 24 * 3600_000;

/** Who acted, as the evidence log records it (a resident only by masked phone). Same shape as evidence's Actor. */
export type ClaimActor = { type: 'staff'; id: string; name?: string } | { type: 'resident'; phone: string } | { type: 'system'; id: string };

export interface Outcome {
  kind: OutcomeKind;
  /** required for `rejected` and `other`: what the resident is told */
  reason: string | null;
}

/** What the claim is about: a parcel the gateway knows, or a tracking number it never saw. */
export interface ClaimSubject {
  parcelId: string | null;
  trackingNumber: string | null;
  carrier: string | null;
  unit: string | null;
  compartment: number | null;
}

/** One line of a claim's own log. State changes have from !== to; notes, ratings keep the state. */
export interface ClaimEvent {
  at: number;
  action: ClaimAction;
  from: ClaimState | null;
  to: ClaimState;
  by: ClaimActor;
  note: string | null;
  outcome?: Outcome;
  rating?: { score: number; comment: string | null };
}

export interface Claim {
  id: string;
  /** short number for people: in texts, on the phone, on paper */
  ref: string;
  /** the resident's phone (11 digits); shown masked outside the staff's own view */
  phone: string;
  lang: 'zh' | 'en';
  channel: ClaimChannel;
  subject: ClaimSubject;
  description: string;
  state: ClaimState;
  openedAt: number;
  openedBy: ClaimActor;
  /** the latest round's acknowledgement, resolution */
  acknowledgedAt: number | null;
  resolvedAt: number | null;
  closedAt: number | null;
  outcome: Outcome | null;
  /** what staff asked while waiting for the resident */
  question: string | null;
  rating: { score: number; comment: string | null; at: number } | null;
  /** times the resident reopened it (= the round of the clocks) */
  reopened: number;
  updatedAt: number;
  /** optimistic-concurrency version, bumped on every write */
  v: number;
}

export type ClaimCommand =
  | { action: 'acknowledge'; note?: string | null }
  | { action: 'investigate'; note?: string | null }
  | { action: 'ask'; question: string }
  | { action: 'answer'; text: string }
  | { action: 'resolve'; outcome: Outcome; note?: string | null }
  | { action: 'close'; note?: string | null }
  | { action: 'reopen'; reason: string }
  | { action: 'rate'; score: number; comment?: string | null }
  | { action: 'note'; text: string };

export type ClaimRuleCode = 'wrong_state' | 'not_allowed' | 'reopen_window_over' | 'already_rated' | 'invalid';

/** A command the rules refuse. Carries no HTTP; adapters map the code. */
export class ClaimRuleError extends Error {
  override name = 'ClaimRuleError';
  constructor(
    readonly code: ClaimRuleCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

type ActorType = ClaimActor['type'];
interface Rule {
  from: readonly ClaimState[];
  /** the state after; null keeps it */
  to: ClaimState | null;
  by: readonly ActorType[];
}

const RULES: Record<Exclude<ClaimAction, 'open'>, Rule> = {
  acknowledge: { from: ['open'], to: 'acknowledged', by: ['staff'] },
  investigate: { from: ['acknowledged', 'waiting_resident'], to: 'investigating', by: ['staff'] },
  ask: { from: ['acknowledged', 'investigating'], to: 'waiting_resident', by: ['staff'] },
  answer: { from: ['waiting_resident'], to: 'investigating', by: ['resident'] },
  resolve: { from: ['acknowledged', 'investigating', 'waiting_resident'], to: 'resolved', by: ['staff'] },
  close: { from: ['resolved'], to: 'closed', by: ['staff', 'system'] },
  reopen: { from: ['resolved', 'closed'], to: 'open', by: ['resident'] },
  rate: { from: ['resolved', 'closed'], to: null, by: ['resident'] },
  note: { from: CLAIM_STATES, to: null, by: ['staff'] },
};

/** Which actions `by` may take on a claim now (for pages that show only the buttons that work). */
export function allowedActions(claim: Claim, by: ActorType, now: number): ClaimAction[] {
  return (Object.keys(RULES) as (keyof typeof RULES)[]).filter((a) => {
    const r = RULES[a];
    if (!r.from.includes(claim.state) || !r.by.includes(by)) return false;
    if (a === 'reopen') return reopenableUntil(claim) !== null && now <= reopenableUntil(claim)!;
    if (a === 'rate') return claim.rating === null;
    return true;
  });
}

/** Until when the resident may reopen (7 days after the latest resolution), or null. */
export function reopenableUntil(claim: Claim): number | null {
  return claim.resolvedAt === null ? null : claim.resolvedAt + REOPEN_WINDOW_MS;
}

/** What a claim is opened with: its own fields as given (the rest start empty). */
export type OpenInput = Pick<Claim, 'id' | 'ref' | 'phone' | 'lang' | 'channel' | 'subject' | 'description'>;

/** A new claim and the first line of its log. */
export function openClaim(input: OpenInput, by: ClaimActor, now: number): { claim: Claim; event: ClaimEvent } {
  if (by.type === 'system') throw new ClaimRuleError('not_allowed', 'a claim is opened by a resident or by staff for one');
  if (by.type === 'resident' && input.channel !== 'app') throw new ClaimRuleError('invalid', 'a resident opens a claim through the app channel');
  if (by.type === 'staff' && input.channel === 'app') throw new ClaimRuleError('invalid', 'staff record how the resident reached them: phone, visit or other');
  const claim: Claim = {
    ...input,
    state: 'open',
    openedAt: now,
    openedBy: by,
    acknowledgedAt: null,
    resolvedAt: null,
    closedAt: null,
    outcome: null,
    question: null,
    rating: null,
    reopened: 0,
    updatedAt: now,
    v: 0,
  };
  return { claim, event: { at: now, action: 'open', from: null, to: 'open', by, note: input.description } };
}

/** The claim after `cmd` by `by` at `now`, and the line it adds to the claim's log; or a ClaimRuleError. */
export function decide(claim: Claim, cmd: ClaimCommand, by: ClaimActor, now: number): { claim: Claim; event: ClaimEvent } {
  const rule = RULES[cmd.action];
  if (!rule.by.includes(by.type)) throw new ClaimRuleError('not_allowed', `${by.type === 'resident' ? 'a resident' : by.type} may not ${cmd.action} a claim`);
  if (!rule.from.includes(claim.state)) {
    throw new ClaimRuleError('wrong_state', `cannot ${cmd.action} a claim that is ${claim.state}`, { state: claim.state, action: cmd.action });
  }
  const to = rule.to ?? claim.state;
  const next: Claim = { ...claim, state: to, updatedAt: now };
  let note: string | null = null;
  const extra: Partial<ClaimEvent> = {};
  switch (cmd.action) {
    case 'acknowledge':
      next.acknowledgedAt = now;
      note = cmd.note ?? null;
      break;
    case 'investigate':
      next.question = null;
      note = cmd.note ?? null;
      break;
    case 'ask':
      next.question = cmd.question;
      note = cmd.question;
      break;
    case 'answer':
      next.question = null;
      note = cmd.text;
      break;
    case 'resolve': {
      const { kind, reason } = cmd.outcome;
      if ((kind === 'rejected' || kind === 'other') && !reason?.trim()) {
        throw new ClaimRuleError('invalid', `an outcome of ${kind} needs a reason the resident is told`, { field: 'reason' });
      }
      next.outcome = { kind, reason: reason?.trim() || null };
      next.resolvedAt = now;
      next.question = null;
      note = cmd.note ?? null;
      extra.outcome = next.outcome;
      break;
    }
    case 'close':
      next.closedAt = now;
      note = cmd.note ?? null;
      break;
    case 'reopen': {
      const until = reopenableUntil(claim);
      if (until === null || now > until) {
        throw new ClaimRuleError('reopen_window_over', 'a claim can be reopened within 7 days of its resolution', { until });
      }
      next.reopened = claim.reopened + 1;
      next.acknowledgedAt = null;
      next.resolvedAt = null;
      next.closedAt = null;
      next.outcome = null;
      note = cmd.reason;
      break;
    }
    case 'rate': {
      if (claim.rating) throw new ClaimRuleError('already_rated', 'this claim has been rated already', { rating: claim.rating.score });
      if (!Number.isInteger(cmd.score) || cmd.score < 1 || cmd.score > 5) throw new ClaimRuleError('invalid', 'a rating is a whole number from 1 to 5', { field: 'score' });
      const comment = cmd.comment?.trim() || null;
      next.rating = { score: cmd.score, comment, at: now };
      extra.rating = { score: cmd.score, comment };
      note = comment;
      break;
    }
    case 'note':
      note = cmd.text;
      break;
  }
  return { claim: next, event: { at: now, action: cmd.action, from: claim.state, to, by, note, ...extra } };
}
