import { z } from 'zod';
import { normalizePhone } from './phone.js';

/**
 * The notification pipeline's messages: one zod schema per job data, shared by the enqueuer, the outbox relay
 * (which parses notices written by the parcel Lua scripts) and the workers (which re-parse what they pop).
 */
export const LANGS = ['zh', 'en'] as const;
export type Lang = (typeof LANGS)[number];

export const NOTICE_KINDS = [
  'stored',
  'reminder',
  'overdue',
  'overdue-courier',
  'collected',
  'returned',
  'deposit-cancelled',
  'keypad-locked',
  'deadline-extended',
  /** staff alert: sensors say a stored parcel is gone without a pickup */
  'missing',
  /** staff alert: a json-v1 unit reported an impossible event number (seq); ignored, the unit may need a reset */
  'seq-suspect',
  /** staff alert: the parcel engine set an event aside after repeated failures (dead-letter stream) */
  'dead-letter',
  /** staff alert raised by the alert engine (src/alerts/): params summaryZh, summaryEn, alertKind, alert */
  'staff-alert',
  /** a resident's one-time sign-in code (params: code, minutes) */
  'otp',
  /**
   * staff alert: a unit or the whole fleet is locked down, doors open for admins only (src/bus/open-guard.ts).
   * params: scope (unit | fleet), cause (burst | manual), reason, since; unit, siteZh, siteEn (a unit); count (a
   * burst: unexplained opens within the minute); by (a member who locked it down by hand)
   */
  'lockdown',
  // ---- lost-parcel claims (src/claims/notices.ts); params: ref, and as listed ----
  /** to the resident (ackHours, resolveHours) and the property (round, channel, unit) */
  'claim-opened',
  /** to the resident */
  'claim-acknowledged',
  /** to the resident: staff asked something; the answer is given signed in */
  'claim-question',
  /** to the resident and the property (outcome, reason?) */
  'claim-resolved',
  /** staff alert, property webhook and DUTY_PHONES (clock ack|resolve, stage near|breached, dueAt) */
  'claim-alert',
] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** One BullMQ queue per channel. Queue names may not contain ':' (BullMQ rule). */
export const CHANNELS = ['sms', 'webhook', 'console'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/**
 * What a delivery is for: the resident's phone or a webhook. A notice makes one job per route; the route is
 * part of the job id, the channel (queue) is where it runs (an sms route runs on the console channel when no
 * provider is configured), so a configuration change never gives one delivery two ids.
 */
export const ROUTES = ['sms', 'webhook'] as const;
export type Route = (typeof ROUTES)[number];

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http(s) URL');

/** Mainland mobile, normalised to 11 digits (+86 / 0086 / separators accepted on input). */
export const phoneSchema = z.string().transform((v, ctx) => {
  const n = normalizePhone(v);
  if (!n) {
    ctx.addIssue({ code: 'custom', message: 'not a mainland mobile number (11 digits starting with 1)' });
    return z.NEVER;
  }
  return n;
});

export const courierWebhookSchema = z.object({
  courierId: z.string().min(1).max(64),
  url: httpUrl,
  secret: z.string().min(8),
});

export const recipientSchema = z
  .object({
    sms: phoneSchema.optional(),
    lang: z.enum(LANGS),
    webhook: z.union([z.literal('property'), courierWebhookSchema]).optional(),
  })
  .refine((to) => to.sms !== undefined || to.webhook !== undefined, 'a notice needs an sms number or a webhook');

/**
 * Template parameters, flat. Known keys (see templates.ts): code, siteZh, siteEn, unit, compartment,
 * deadline / collectedAt / lockedUntil (epoch ms), carrier (code such as SF or a display name), carrierZh,
 * carrierEn, tracking, phoneTail; minutes (otp).
 */
export const paramsSchema = z.record(z.string(), z.union([z.string(), z.number()]));

export const noticeSchema = z.object({
  /** Deterministic: one notice per parcel and kind, e.g. `${parcelId}.stored`, `${parcelId}.reminder-24h`. */
  id: z.string().min(1).max(200).regex(/^\S+$/, 'no whitespace'),
  kind: z.enum(NOTICE_KINDS),
  parcelId: z.string().min(1).max(128).optional(),
  to: recipientSchema,
  params: paramsSchema.default({}),
  /** epoch ms; omitted = now */
  sendAt: z.number().int().nonnegative().optional(),
  /** respect quiet hours (reminders, overdue notices) */
  quiet: z.boolean().optional(),
});
export type Notice = z.input<typeof noticeSchema>;
export type ParsedNotice = z.output<typeof noticeSchema>;

/** What a channel queue's job carries. The job id is repeated in the data so a channel can use it as the
 *  provider's idempotency key without knowing about BullMQ. */
export const noticeJobSchema = z.object({
  jobId: z.string().min(1),
  route: z.enum(ROUTES),
  channel: z.enum(CHANNELS),
  notice: noticeSchema,
});
export type NoticeJob = z.output<typeof noticeJobSchema>;

/** A permanently failed delivery (attempts exhausted or refused by the provider), as failures() lists it. */
export interface FailedNotice {
  jobId: string;
  channel: ChannelName;
  noticeId: string;
  kind: NoticeKind | string;
  /** masked phone (138****5678), 'property' or 'courier:<id>' */
  to: string;
  reason: string;
  attempts: number;
  failedAt: number;
}

/** Outbox stream entries written by the parcel state transitions (Lua). Fields are flat strings. */
export const outboxEntrySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('notice'), notice: z.string() }),
  z.object({ type: z.literal('cancel'), ids: z.string() }),
]);
export const cancelIdsSchema = z.array(z.string().min(1)).max(1000);

const hm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM');

export const notifyConfigSchema = z.object({
  /** BullMQ key prefix (tests use their own). May contain ':'. */
  prefix: z.string().min(1),
  timeZone: z
    .string()
    .min(1)
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'unknown time zone')
    .default('Asia/Shanghai'),
  quietHours: z.object({ start: hm, end: hm }).nullable().default({ start: '22:00', end: '08:00' }),
  /** null: SMS goes to the console channel (development) */
  sms: z
    .object({ url: httpUrl, token: z.string().min(1).optional(), ratePerSecond: z.number().positive().max(1000) })
    .nullable()
    .default(null),
  propertyWebhook: z.object({ url: httpUrl, secret: z.string().min(8) }).nullable().default(null),
  webhookRatePerSecond: z.number().positive().max(1000).default(10),
  attempts: z.number().int().min(1).max(50).default(6),
  backoffMs: z.number().int().positive().default(2000),
  /** the longest wait between two attempts: the exponential back-off stops growing there (capped(), jobs.ts) */
  backoffMaxMs: z.number().int().positive().default(600_000),
  /**
   * Notices due `afterMs` or more ahead (reminders; a quiet notice held back by quiet hours) wait in the notifier's
   * later-store, not in BullMQ's delayed set (src/notify/later.ts); where the workers run, a pump moves each into its
   * queue within `pollMs` of its time (every `pollMs`, taking what is due within the next `pollMs`).
   */
  later: z
    .object({ afterMs: z.number().int().min(1000).default(60_000), pollMs: z.number().int().min(10).max(30_000).default(1000) })
    .refine((l) => l.afterMs > l.pollMs, 'afterMs must be more than pollMs')
    .default({ afterMs: 60_000, pollMs: 1000 }),
  /** Worker tuning; defaults suit production. Tests shorten the lock to exercise stalled-job recovery. */
  worker: z
    .object({
      concurrency: z.number().int().positive().max(100).optional(),
      lockDurationMs: z.number().int().min(500).optional(),
      stalledIntervalMs: z.number().int().min(100).optional(),
    })
    .optional(),
});
export type NotifyConfig = z.input<typeof notifyConfigSchema>;
export type ParsedNotifyConfig = z.output<typeof notifyConfigSchema>;
