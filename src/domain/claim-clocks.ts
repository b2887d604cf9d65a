/**
 * The office's promises about a claim, computed from the claim's own log of state changes (never from counters that
 * could drift): acknowledge within `ackMs` and resolve within `resolveMs`, both counted from the opening, around the
 * clock. The resolve clock stands still while the claim waits for the resident. A reopened claim starts a new round:
 * both clocks count again from the reopening. Pure: no I/O, the time is an argument.
 */
import type { ClaimState } from './claims.js';

export interface ClockPolicy {
  ackMs: number;
  resolveMs: number;
}

/** A clock alerts at 80 % of its time ("near") and when it has run out ("breached"). */
export const NEAR_SHARE = 0.8;
export const CLOCK_NAMES = ['ack', 'resolve'] as const;
export type ClockName = (typeof CLOCK_NAMES)[number];
export const STAGES = ['ok', 'near', 'breached'] as const;
export type Stage = (typeof STAGES)[number];

/** The part of a claim's log the clocks read. */
export interface StateChange {
  at: number;
  from: ClaimState | null;
  to: ClaimState;
}

export interface ClockView {
  name: ClockName;
  limitMs: number;
  /** when this round's clock started (the opening or the reopening) */
  startedAt: number;
  /** time counted so far (the resolve clock leaves out the time spent waiting for the resident) */
  elapsedMs: number;
  /** time left before the limit (negative once past it) */
  remainingMs: number;
  /** when it stopped: acknowledged (ack) or resolved (resolve); null while it runs */
  stoppedAt: number | null;
  /** standing still now: the claim waits for the resident */
  paused: boolean;
  /** when the limit is (or was) reached if nothing changes; null while paused or once stopped */
  dueAt: number | null;
  /** when 80 % is reached if nothing changes; null while paused, once stopped, or once past it */
  nearAt: number | null;
  stage: Stage;
  /** once stopped: whether it stopped before the limit (the same instant as `stage` turning breached) */
  met: boolean | null;
}

export interface ClaimClocks {
  /** 0 for the first opening, 1 after the first reopening, … */
  round: number;
  ack: ClockView;
  resolve: ClockView;
  /** the worst stage of the two: what the staff's list filters by */
  stage: Stage;
}

const rank: Record<Stage, number> = { ok: 0, near: 1, breached: 2 };
export const worst = (a: Stage, b: Stage): Stage => (rank[a] >= rank[b] ? a : b);

export function stageOf(elapsedMs: number, limitMs: number): Stage {
  if (elapsedMs >= limitMs) return 'breached';
  if (elapsedMs >= NEAR_SHARE * limitMs) return 'near';
  return 'ok';
}

/**
 * Both clocks of the claim's current round at `now`. `changes` is the claim's log in order (entries that keep the
 * state, such as notes, may be included: they change nothing). The first entry must be the opening.
 */
export function claimClocks(changes: readonly StateChange[], policy: ClockPolicy, now: number): ClaimClocks {
  if (!changes.length || changes[0]!.to !== 'open') throw new Error('a claim log starts with its opening');
  let start = 0;
  let round = -1;
  changes.forEach((c, i) => {
    if (c.to === 'open' && c.from !== 'open') {
      start = i;
      round++;
    }
  });
  const roundChanges = changes.slice(start);
  const startedAt = roundChanges[0]!.at;
  // Never count backwards: a change stamped by a gateway whose clock is a little ahead is still "before now".
  const t = Math.max(now, roundChanges.at(-1)!.at);

  const acked = roundChanges.find((c) => c.from === 'open' && c.to !== 'open');
  const ack = view('ack', policy.ackMs, startedAt, acked ? acked.at - startedAt : t - startedAt, acked?.at ?? null, false, t);

  let paused = 0;
  let waitingSince: number | null = null;
  let resolvedAt: number | null = null;
  for (const c of roundChanges) {
    if (c.from === c.to) continue;
    if (c.to === 'waiting_resident' && waitingSince === null) waitingSince = c.at;
    else if (c.to !== 'waiting_resident' && waitingSince !== null) {
      paused += c.at - waitingSince;
      waitingSince = null;
    }
    if (c.to === 'resolved') {
      resolvedAt = c.at;
      break;
    }
  }
  const end = resolvedAt ?? t;
  if (waitingSince !== null) paused += end - waitingSince;
  const resolve = view('resolve', policy.resolveMs, startedAt, end - startedAt - paused, resolvedAt, resolvedAt === null && waitingSince !== null, t);
  return { round, ack, resolve, stage: worst(ack.stage, resolve.stage) };
}

function view(name: ClockName, limitMs: number, startedAt: number, elapsed: number, stoppedAt: number | null, paused: boolean, now: number): ClockView {
  const elapsedMs = Math.max(0, elapsed);
  const stage = stageOf(elapsedMs, limitMs);
  const running = stoppedAt === null && !paused;
  const nearLimit = NEAR_SHARE * limitMs;
  return {
    name,
    limitMs,
    startedAt,
    elapsedMs,
    remainingMs: limitMs - elapsedMs,
    stoppedAt,
    paused,
    dueAt: running ? now + (limitMs - elapsedMs) : null,
    nearAt: running && elapsedMs < nearLimit ? now + Math.ceil(nearLimit - elapsedMs) : null,
    stage,
    met: stoppedAt === null ? null : elapsedMs < limitMs,
  };
}

export interface Alert {
  clock: ClockName;
  stage: Exclude<Stage, 'ok'>;
  round: number;
}

/**
 * The alert a claim owes its staff now: for each clock still counting (running or paused), the highest stage it has
 * reached. A clock that stopped before a stage never alerts for it; a stage skipped over (the sweep was late, the
 * gateway was down) is not alerted late: once past the limit, only the breach is news.
 */
export function alertsDue(clocks: ClaimClocks): Alert[] {
  const out: Alert[] = [];
  for (const c of [clocks.ack, clocks.resolve]) {
    if (c.stoppedAt !== null || c.stage === 'ok') continue;
    out.push({ clock: c.name, stage: c.stage, round: clocks.round });
  }
  return out;
}

/** A stable key of an alert: one per claim, round, clock and stage (notice ids and the once-only guard use it). */
export const alertKey = (a: Alert) => `r${a.round}.${a.clock}-${a.stage}`;
