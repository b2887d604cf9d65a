import { createHash } from 'node:crypto';
import type { Claim, ClaimEvent } from '../domain/claims.js';
import { alertKey, type Alert, type ClockView } from '../domain/claim-clocks.js';
import type { EvidenceEntry } from '../evidence/entry.js';
import type { Notice } from '../notify/types.js';

export interface ClaimNoticePolicy {
  ackHours: number;
  resolveHours: number;
  /** mainland mobiles of the staff on duty (DUTY_PHONES): clock alerts go there and to the property webhook */
  dutyPhones: readonly string[];
}

/** A reason quoted in a text is cut short: the full one is in the claim, which the resident reads signed in. */
const short = (s: string, n = 30) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * Who is told what when a claim changes. The resident is texted when the claim is opened, acknowledged, asked a
 * question and resolved; the property's system hears of openings (and reopenings) and resolutions. Ids are
 * deterministic (claim, round, event), so a step written twice is still told once.
 */
export function claimNotices(claim: Claim, event: ClaimEvent, logLength: number, policy: ClaimNoticePolicy): Notice[] {
  // `claim` is for the record (the delivery joins the claim's evidence); texts show the ref
  const base = { ref: claim.ref, claim: claim.id };
  const round = `r${claim.reopened}`;
  const resident = (id: string, kind: Notice['kind'], params: Record<string, string | number> = {}): Notice => ({
    id,
    kind,
    to: { sms: claim.phone, lang: claim.lang },
    params: { ...base, ...params },
  });
  const property = (id: string, kind: Notice['kind'], params: Record<string, string | number> = {}): Notice => ({
    id: `${id}.property`,
    kind,
    to: { lang: 'zh', webhook: 'property' },
    params: {
      ...base,
      state: claim.state,
      channel: claim.channel,
      round: claim.reopened,
      ...(claim.subject.parcelId ? { parcel: claim.subject.parcelId } : {}),
      ...(claim.subject.unit ? { unitId: claim.subject.unit } : {}),
      ...params,
    },
  });
  switch (event.action) {
    case 'open':
      return [
        resident(`${claim.id}.opened`, 'claim-opened', { ackHours: policy.ackHours, resolveHours: policy.resolveHours }),
        property(`${claim.id}.opened`, 'claim-opened'),
      ];
    case 'reopen':
      return [property(`${claim.id}.${round}.opened`, 'claim-opened')];
    case 'acknowledge':
      return [resident(`${claim.id}.${round}.acknowledged`, 'claim-acknowledged')];
    case 'ask':
      // one per question: the line's place in the claim's log
      return [resident(`${claim.id}.question-${logLength}`, 'claim-question')];
    case 'resolve': {
      const o = claim.outcome!;
      const params = { outcome: o.kind, ...(o.reason ? { reason: short(o.reason) } : {}) };
      return [resident(`${claim.id}.${round}.resolved`, 'claim-resolved', params), property(`${claim.id}.${round}.resolved`, 'claim-resolved', params)];
    }
    default:
      return [];
  }
}

/** A short, stable tag of a duty phone for notice ids (ids end up in logs and the evidence; numbers should not). */
const phoneTag = (phone: string) => createHash('sha256').update(phone).digest('hex').slice(0, 8);

/** The alert of one stage of one clock: the property webhook and a text to each phone on duty. */
export function alertNotices(claim: Claim, alert: Alert, clock: ClockView, policy: ClaimNoticePolicy, now: number): Notice[] {
  const id = `${claim.id}.${alertKey(alert)}`;
  // when it runs (or ran) out; a paused clock would run out that long after the resident answers
  const dueAt = clock.dueAt ?? now + clock.remainingMs;
  const params = {
    ref: claim.ref,
    claim: claim.id,
    clock: alert.clock,
    stage: alert.stage,
    round: alert.round,
    dueAt,
    state: claim.state,
    elapsedMs: clock.elapsedMs,
    ...(claim.subject.unit ? { unitId: claim.subject.unit } : {}),
  };
  return [
    { id: `${id}.property`, kind: 'claim-alert', to: { lang: 'zh', webhook: 'property' }, params },
    ...policy.dutyPhones.map((phone): Notice => ({ id: `${id}.duty-${phoneTag(phone)}`, kind: 'claim-alert', to: { sms: phone, lang: 'zh' }, params })),
  ];
}

/** An evidence entry for each notice queued with a claim step (as parcel steps record theirs). */
export function noticeEvidence(claim: Claim, notices: Notice[], at: number): EvidenceEntry[] {
  return notices.map((n) => ({
    at,
    kind: 'notice-queued',
    actor: { type: 'system', id: 'notices' },
    claim: claim.id,
    notice: n.id,
    noticeKind: n.kind,
    channel: n.to.sms ? 'sms' : 'webhook',
  }));
}
