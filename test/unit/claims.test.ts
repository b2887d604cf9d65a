import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alertKey, alertsDue, claimClocks, type ClockPolicy } from '../../src/domain/claim-clocks.js';
import {
  allowedActions,
  ClaimRuleError,
  decide,
  openClaim,
  REOPEN_WINDOW_MS,
  type Claim,
  type ClaimActor,
  type ClaimCommand,
  type ClaimEvent,
} from '../../src/domain/claims.js';

const H = 3600_000;
const M = 60_000;
const T0 = Date.UTC(2026, 10, 29, 2, 0, 0);
const STAFF: ClaimActor = { type: 'staff', id: 's_1', name: '张主任' };
const RESIDENT: ClaimActor = { type: 'resident', phone: '138****8000' };
const SYSTEM: ClaimActor = { type: 'system', id: 'claim-sweep' };
const POLICY: ClockPolicy = { ackMs: 2 * H, resolveMs: 48 * H };

function opened(at = T0): { claim: Claim; log: ClaimEvent[] } {
  const { claim, event } = openClaim(
    {
      id: 'cl_1',
      ref: 'K00001',
      phone: '13800138000',
      lang: 'zh',
      channel: 'app',
      subject: { parcelId: null, trackingNumber: 'SF1', carrier: 'SF', unit: null, compartment: null },
      description: 'lost',
    },
    RESIDENT,
    at,
  );
  return { claim, log: [event] };
}

/** Apply commands in order, each `after` ms after the previous one. */
function run(steps: [number, ClaimCommand, ClaimActor][], start = opened()): { claim: Claim; log: ClaimEvent[]; at: number } {
  let { claim } = start;
  const log = [...start.log];
  let at = log.at(-1)!.at;
  for (const [after, cmd, by] of steps) {
    at += after;
    const r = decide(claim, cmd, by, at);
    claim = r.claim;
    log.push(r.event);
  }
  return { claim, log, at };
}

const ack: ClaimCommand = { action: 'acknowledge' };
const investigate: ClaimCommand = { action: 'investigate' };
const ask: ClaimCommand = { action: 'ask', question: 'which door?' };
const answer: ClaimCommand = { action: 'answer', text: 'north' };
const found: ClaimCommand = { action: 'resolve', outcome: { kind: 'found', reason: null } };

describe('claim state machine', () => {
  it('goes open -> acknowledged -> investigating <-> waiting -> resolved -> closed, each line saying who and when', () => {
    const r = run([
      [10 * M, ack, STAFF],
      [5 * M, investigate, STAFF],
      [H, ask, STAFF],
      [2 * H, answer, RESIDENT],
      [H, found, STAFF],
      [H, { action: 'close', note: 'done' }, STAFF],
    ]);
    expect(r.log.map((e) => `${e.from ?? '-'}>${e.to}`)).toEqual([
      '->open',
      'open>acknowledged',
      'acknowledged>investigating',
      'investigating>waiting_resident',
      'waiting_resident>investigating',
      'investigating>resolved',
      'resolved>closed',
    ]);
    expect(r.claim).toMatchObject({ state: 'closed', acknowledgedAt: T0 + 10 * M, outcome: { kind: 'found', reason: null }, question: null });
    expect(r.log[3]).toMatchObject({ by: STAFF, note: 'which door?' });
    expect(r.log[4]).toMatchObject({ by: RESIDENT, note: 'north' });
  });

  it('refuses actions in the wrong state, or by the wrong kind of actor', () => {
    const { claim } = opened();
    expect(() => decide(claim, investigate, STAFF, T0)).toThrow(ClaimRuleError);
    expect(() => decide(claim, found, STAFF, T0)).toThrow(/cannot resolve a claim that is open/);
    expect(() => decide(claim, ack, RESIDENT, T0)).toThrow(expect.objectContaining({ code: 'not_allowed' }));
    expect(() => decide(claim, { action: 'note', text: 'x' }, RESIDENT, T0)).toThrow(expect.objectContaining({ code: 'not_allowed' }));
    const acked = decide(claim, ack, STAFF, T0).claim;
    expect(() => decide(acked, answer, RESIDENT, T0)).toThrow(expect.objectContaining({ code: 'wrong_state' }));
    expect(() => decide(acked, { action: 'rate', score: 5 }, RESIDENT, T0)).toThrow(expect.objectContaining({ code: 'wrong_state' }));
  });

  it('needs a reason to reject, and records the outcome', () => {
    const { claim } = run([[M, ack, STAFF]]);
    expect(() => decide(claim, { action: 'resolve', outcome: { kind: 'rejected', reason: ' ' } }, STAFF, T0 + H)).toThrow(expect.objectContaining({ code: 'invalid' }));
    const r = decide(claim, { action: 'resolve', outcome: { kind: 'rejected', reason: ' collected by you at 18:02 ' } }, STAFF, T0 + H);
    expect(r.claim.outcome).toEqual({ kind: 'rejected', reason: 'collected by you at 18:02' });
    expect(r.event.outcome).toEqual(r.claim.outcome);
  });

  it('lets the resident reopen within 7 days of the resolution (also once closed), not after', () => {
    const resolved = run([
      [M, ack, STAFF],
      [H, found, STAFF],
    ]);
    const closed = decide(resolved.claim, { action: 'close' }, SYSTEM, resolved.at + H).claim;
    const reopened = decide(closed, { action: 'reopen', reason: 'it was not mine' }, RESIDENT, resolved.at + REOPEN_WINDOW_MS);
    expect(reopened.claim).toMatchObject({ state: 'open', reopened: 1, outcome: null, resolvedAt: null, acknowledgedAt: null });
    expect(reopened.event).toMatchObject({ from: 'closed', to: 'open', note: 'it was not mine' });
    expect(() => decide(closed, { action: 'reopen', reason: 'late' }, RESIDENT, resolved.at + REOPEN_WINDOW_MS + 1)).toThrow(
      expect.objectContaining({ code: 'reopen_window_over' }),
    );
    expect(() => decide(resolved.claim, { action: 'reopen', reason: 'x' }, STAFF, resolved.at)).toThrow(expect.objectContaining({ code: 'not_allowed' }));
    expect(allowedActions(resolved.claim, 'resident', resolved.at)).toEqual(['reopen', 'rate']);
    expect(allowedActions(resolved.claim, 'resident', resolved.at + REOPEN_WINDOW_MS + 1)).toEqual(['rate']);
  });

  it('takes one rating, 1 to 5', () => {
    const r = run([
      [M, ack, STAFF],
      [H, found, STAFF],
    ]);
    expect(() => decide(r.claim, { action: 'rate', score: 6 }, RESIDENT, r.at)).toThrow(expect.objectContaining({ code: 'invalid' }));
    const rated = decide(r.claim, { action: 'rate', score: 4, comment: ' quick ' }, RESIDENT, r.at + M);
    expect(rated.claim.rating).toEqual({ score: 4, comment: 'quick', at: r.at + M });
    expect(rated.event).toMatchObject({ from: 'resolved', to: 'resolved', rating: { score: 4, comment: 'quick' } });
    expect(() => decide(rated.claim, { action: 'rate', score: 5 }, RESIDENT, r.at + 2 * M)).toThrow(expect.objectContaining({ code: 'already_rated' }));
  });

  it('records how the claim came in: the app for residents, a channel for staff', () => {
    const input = { id: 'x', ref: 'K1', phone: '13800138000', lang: 'zh' as const, subject: opened().claim.subject, description: 'd' };
    expect(() => openClaim({ ...input, channel: 'phone' }, RESIDENT, T0)).toThrow(ClaimRuleError);
    expect(() => openClaim({ ...input, channel: 'app' }, STAFF, T0)).toThrow(ClaimRuleError);
    expect(openClaim({ ...input, channel: 'visit' }, STAFF, T0).claim).toMatchObject({ channel: 'visit', openedBy: STAFF, state: 'open' });
  });
});

describe('claim clocks', () => {
  it('counts the ack clock from the opening to the acknowledgement, and the stages at 80 % and 100 %', () => {
    const { log } = opened();
    expect(claimClocks(log, POLICY, T0 + 95 * M).ack).toMatchObject({ stage: 'ok', elapsedMs: 95 * M, dueAt: T0 + 2 * H, nearAt: T0 + 96 * M });
    expect(claimClocks(log, POLICY, T0 + 96 * M).ack.stage).toBe('near');
    expect(claimClocks(log, POLICY, T0 + 2 * H - 1).ack.stage).toBe('near');
    expect(claimClocks(log, POLICY, T0 + 2 * H).ack).toMatchObject({ stage: 'breached', remainingMs: 0 });
    const acked = run([[90 * M, ack, STAFF]]);
    expect(claimClocks(acked.log, POLICY, T0 + 10 * H).ack).toMatchObject({ stage: 'ok', elapsedMs: 90 * M, stoppedAt: T0 + 90 * M, met: true, dueAt: null });
    const late = run([[2 * H + 1, ack, STAFF]]);
    expect(claimClocks(late.log, POLICY, T0 + 10 * H).ack).toMatchObject({ stage: 'breached', met: false });
  });

  it('stops the resolve clock while the claim waits for the resident', () => {
    const r = run([
      [M, ack, STAFF],
      [9 * M, ask, STAFF],
      [30 * H, answer, RESIDENT],
      [H, ask, STAFF],
    ]);
    // counted: 10 min before the question, 1 h between the answer and the second question; now waiting again
    const c = claimClocks(r.log, POLICY, r.at + 100 * H);
    expect(c.resolve).toMatchObject({ elapsedMs: 70 * M, paused: true, dueAt: null, stage: 'ok', stoppedAt: null });
    const resolved = decide(r.claim, found, STAFF, r.at + 5 * H);
    const done = claimClocks([...r.log, resolved.event], POLICY, r.at + 500 * H).resolve;
    expect(done).toMatchObject({ elapsedMs: 70 * M, stoppedAt: r.at + 5 * H, met: true, paused: false });
  });

  it('starts a new round when the resident reopens', () => {
    const r = run([
      [M, ack, STAFF],
      [H, found, STAFF],
      [24 * H, { action: 'reopen', reason: 'no' }, RESIDENT],
    ]);
    const c = claimClocks(r.log, POLICY, r.at + 100 * M);
    expect(c.round).toBe(1);
    expect(c.ack).toMatchObject({ startedAt: r.at, elapsedMs: 100 * M, stage: 'near' });
    expect(c.resolve).toMatchObject({ startedAt: r.at, elapsedMs: 100 * M, stage: 'ok' });
    expect(alertsDue(c)).toEqual([{ clock: 'ack', stage: 'near', round: 1 }]);
  });

  it('owes no alert for a clock that stopped before the stage, and only the highest stage reached', () => {
    const acked = run([[95 * M, ack, STAFF]]);
    expect(alertsDue(claimClocks(acked.log, POLICY, T0 + 10 * H))).toEqual([]);
    // never looked at between 80 % and 100 %: the breach alone
    expect(alertsDue(claimClocks(opened().log, POLICY, T0 + 3 * H))).toEqual([{ clock: 'ack', stage: 'breached', round: 0 }]);
    // 38.4 h unacknowledged: ack breached, resolve near
    expect(alertsDue(claimClocks(opened().log, POLICY, T0 + 38.4 * H)).map(alertKey)).toEqual(['r0.ack-breached', 'r0.resolve-near']);
  });
});

/**
 * Random lives of a claim: at each step some minutes pass and one of the actions then allowed is taken. A minute by
 * minute model (independent of the interval arithmetic) says what each clock must read.
 */
const life = fc.array(fc.tuple(fc.integer({ min: 0, max: 40 * 60 }), fc.nat()), { maxLength: 12 });

function live(steps: [number, number][]): { log: ClaimEvent[]; claim: Claim } {
  let { claim, log } = opened();
  let at = T0;
  for (const [gap, pick] of steps) {
    at += gap * M;
    const choices = (['staff', 'resident'] as const).flatMap((t) => allowedActions(claim, t, at).map((a) => [t, a] as const));
    const [type, action] = choices[pick % choices.length]!;
    const cmd = {
      acknowledge: ack,
      investigate,
      ask,
      answer,
      resolve: found,
      close: { action: 'close' },
      reopen: { action: 'reopen', reason: 'again' },
      rate: { action: 'rate', score: 3 },
      note: { action: 'note', text: 'n' },
      open: null,
    }[action] as ClaimCommand;
    const r = decide(claim, cmd, type === 'staff' ? STAFF : RESIDENT, at);
    claim = r.claim;
    log = [...log, r.event];
  }
  return { log, claim };
}

/** Minutes counted by each clock of the last round up to `until`, walking minute by minute. */
function model(log: ClaimEvent[], until: number): { ack: number; resolve: number } {
  const start = [...log].reverse().find((e) => e.to === 'open' && e.from !== 'open')!.at;
  const stateAt = (t: number) => [...log].filter((e) => e.at <= t).at(-1)!.to;
  let ackStopped = false;
  let resolveStopped = false;
  const out = { ack: 0, resolve: 0 };
  for (let t = start; t < until; t += M) {
    const s = stateAt(t);
    if (s !== 'open') ackStopped = true;
    if (s === 'resolved' || s === 'closed') resolveStopped = true;
    if (!ackStopped) out.ack++;
    if (!resolveStopped && s !== 'waiting_resident') out.resolve++;
  }
  return out;
}

describe('claim clocks, property-based', () => {
  it('agree with a minute-by-minute walk of the log', () => {
    fc.assert(
      fc.property(life, fc.integer({ min: 0, max: 60 * 60 }), (steps, extra) => {
        const { log } = live(steps);
        const now = log.at(-1)!.at + extra * M;
        const c = claimClocks(log, POLICY, now);
        const m = model(log, now);
        expect(c.ack.elapsedMs).toBe(m.ack * M);
        expect(c.resolve.elapsedMs).toBe(m.resolve * M);
      }),
      { numRuns: 300 },
    );
  });

  it('never run backwards, and alert only for clocks still counting that reached the stage', () => {
    fc.assert(
      fc.property(life, fc.array(fc.integer({ min: 0, max: 60 * 60 }), { minLength: 2, maxLength: 6 }), (steps, probes) => {
        const { log } = live(steps);
        const times = probes.map((p) => log.at(-1)!.at + p * M).sort((a, b) => a - b);
        let prev = claimClocks(log, POLICY, times[0]!);
        for (const t of times.slice(1)) {
          const c = claimClocks(log, POLICY, t);
          expect(c.ack.elapsedMs).toBeGreaterThanOrEqual(prev.ack.elapsedMs);
          expect(c.resolve.elapsedMs).toBeGreaterThanOrEqual(prev.resolve.elapsedMs);
          for (const a of alertsDue(c)) {
            const clock = c[a.clock];
            expect(clock.stoppedAt).toBeNull();
            expect(clock.elapsedMs).toBeGreaterThanOrEqual(a.stage === 'near' ? 0.8 * clock.limitMs : clock.limitMs);
          }
          prev = c;
        }
      }),
      { numRuns: 300 },
    );
  });
});
