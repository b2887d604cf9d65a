import type { UnitProfile } from '../domain/model.js';
import type { NoticeIntent, Parcel } from '../domain/parcel.js';
import type { Notice } from '../notify/types.js';
import type { Courier } from './accounts.js';

export interface NoticePolicy {
  reminderHours: readonly number[];
}

/**
 * Who is told what, for each thing that happens to a parcel. Ids are deterministic (parcel + kind + route), so a
 * notice written twice is still sent once. Only the resident's own text carries the pickup code; webhooks and
 * reminders never do (reminders would keep the code in a delayed job for days).
 */
export function noticesFor(
  intent: NoticeIntent,
  ctx: {
    parcel: Parcel;
    unit: UnitProfile;
    courier: Courier | null;
    /** plaintext code, only for `stored` */
    code?: string;
    /** how many parcels share the compartment (and the code) */
    count?: number;
    /** distinguishes a re-issued code from the first `stored` notice */
    codeTag?: string;
    policy: NoticePolicy;
  },
): Notice[] {
  const { parcel: p, unit, courier } = ctx;
  const params = {
    unit: unit.id,
    siteZh: unit.siteName.zh,
    siteEn: unit.siteName.en,
    compartment: p.compartment,
    carrier: p.carrier,
    tracking: p.trackingNumber,
    phoneTail: p.phone.slice(-4),
    ...(p.deadline ? { deadline: p.deadline } : {}),
  };
  const resident = (id: string, kind: Notice['kind'], extra: Record<string, string | number> = {}, quiet = false): Notice => ({
    id,
    kind,
    parcelId: p.id,
    to: { sms: p.phone, lang: p.lang },
    params: { ...params, ...extra },
    ...(quiet ? { quiet } : {}),
  });
  // An overdue notice can happen twice (after an extension): its ids carry the deadline it is about.
  const tag = intent.kind === 'overdue' ? `overdue.${p.deadline}` : intent.kind;
  const property = (kind: Notice['kind'], extra: Record<string, string | number> = {}): Notice => ({
    id: `${p.id}.${tag}.property`,
    kind,
    parcelId: p.id,
    to: { lang: 'zh', webhook: 'property' },
    params: { ...params, state: p.state, ...extra },
  });
  const toCourier = (kind: Notice['kind'], extra: Record<string, string | number> = {}): Notice[] =>
    courier?.webhookUrl && courier.webhookSecret
      ? [
          {
            id: `${p.id}.${tag}.courier`,
            kind,
            parcelId: p.id,
            to: { lang: 'zh', webhook: { courierId: courier.id, url: courier.webhookUrl, secret: courier.webhookSecret } },
            params: { ...params, state: p.state, ...extra },
          },
        ]
      : [];

  switch (intent.kind) {
    case 'stored': {
      if (!ctx.code) throw new Error('stored notice needs the code');
      const id = ctx.codeTag ? `${p.id}.code-${ctx.codeTag}` : `${p.id}.stored`;
      const out: Notice[] = [resident(id, 'stored', { code: ctx.code, count: ctx.count ?? 1 })];
      if (ctx.codeTag) return out; // a new code for a parcel already announced: the resident only
      out.push(property('stored'), ...toCourier('stored'));
      for (const h of ctx.policy.reminderHours) {
        if (!p.storedAt) break;
        const sendAt = p.storedAt + h * 3600_000;
        if (p.deadline && sendAt >= p.deadline) continue;
        out.push({ ...resident(`${p.id}.reminder-${h}h`, 'reminder', {}, true), sendAt });
      }
      return out;
    }
    case 'collected':
      return [
        resident(`${p.id}.collected`, 'collected', { collectedAt: p.endedAt ?? Date.now() }),
        property('collected', { collectedAt: p.endedAt ?? Date.now() }),
        ...toCourier('collected', { collectedAt: p.endedAt ?? Date.now() }),
      ];
    case 'deposit-cancelled':
      return [property('deposit-cancelled', { reason: p.reason ?? '' }), ...toCourier('deposit-cancelled', { reason: p.reason ?? '' })];
    case 'overdue':
      return [resident(overdueId(p), 'overdue', {}, true), property('overdue'), ...toCourier('overdue-courier')];
    case 'returned':
      return [resident(`${p.id}.returned`, 'returned'), property('returned')];
    case 'missing':
      return [property('missing', { reason: p.reason ?? '' })];
    case 'deadline-extended':
      return [resident(`${p.id}.deadline-extended.${p.deadline}`, 'deadline-extended')];
  }
}

const overdueId = (p: Parcel) => `${p.id}.overdue.${p.deadline}`;

/**
 * Ids of a parcel's resident notices that may still be waiting (reminders, and an overdue text held back by quiet
 * hours), withdrawn when it is collected, returned or missing.
 */
export function pendingNoticeIds(p: Parcel, policy: NoticePolicy): string[] {
  return [...policy.reminderHours.map((h) => `${p.id}.reminder-${h}h`), ...(p.deadline ? [overdueId(p)] : [])];
}
