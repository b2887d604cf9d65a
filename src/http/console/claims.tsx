import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ClaimError } from '../../claims/errors.js';
import type { Claims } from '../../claims/index.js';
import type { ClaimFilter, ClaimView } from '../../claims/service.js';
import { STAGES, type ClockView, type Stage } from '../../domain/claim-clocks.js';
import { ACTIVE_CLAIM_STATES, CLAIM_STATES, type ClaimChannel, type ClaimState, type OutcomeKind } from '../../domain/claims.js';
import type { Parcel } from '../../domain/parcel.js';
import { maskPhone, normalizePhone } from '../../notify/phone.js';
import { staffActor } from '../../staff/types.js';
import type { StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { Carrier, Description, Tracking, needSubject, subjectMessage } from '../routes/claims-schemas.js';
import { Phone } from '../routes/parcels.js';
import type { ConsoleDeps } from './deps.js';
import { ago, formatInZone } from './format.js';
import { describeError, formText } from './forms.js';
import { Csrf, page } from './layout.js';

type C = Context<StaffEnv>;

export const CLAIM_STATE_LABELS: Record<ClaimState, string> = {
  open: '待受理 open',
  acknowledged: '已受理 acknowledged',
  investigating: '调查中 investigating',
  waiting_resident: '等住户回复 waiting for the resident',
  resolved: '已处理 resolved',
  closed: '已结案 closed',
};
export const OUTCOME_LABELS: Record<OutcomeKind, string> = {
  found: '已找到 found',
  wrong_person: '被他人取走 taken by someone else',
  compensated: '已赔偿 compensated',
  rejected: '不予受理 rejected',
  other: '其他 other',
};
export const CHANNEL_LABELS: Record<ClaimChannel, string> = { app: '住户自助 app', phone: '电话 phone', visit: '到访 visit', other: '其他 other' };
const STAGE_LABELS: Record<Stage, string> = { ok: '正常 on time', near: '快到期 near the limit', breached: '已超时 past the limit' };
const CLOCK_LABELS = { ack: '受理 Acknowledge', resolve: '处理 Resolve' } as const;

/** The claims service, or a 404 where this process has none. */
export function claimsOf(d: ConsoleDeps): Claims {
  if (!d.claims) throw new ApiError(404, 'not_found', '这个网关没有申报功能。Claims are not served by this gateway.');
  return d.claims;
}

/** One clock as staff read it: time left (or over), paused, or stopped (met or not). */
export function ClockText({ c, tz }: { c: ClockView; tz: string }) {
  const name = CLOCK_LABELS[c.name];
  let text: string;
  if (c.stoppedAt !== null) text = `${c.met ? '按时完成 met' : '超时完成 late'}（${ago(c.elapsedMs)}）`;
  else if (c.paused) text = `暂停，等住户 paused, waiting for the resident（剩 ${ago(c.remainingMs)} left）`;
  else if (c.remainingMs > 0) text = `剩 ${ago(c.remainingMs)} left，${formatInZone(c.dueAt, tz)} 前 due`;
  else text = `已超时 over by ${ago(-c.remainingMs)}`;
  const stage = c.stoppedAt === null ? c.stage : c.met ? 'ok' : 'breached';
  return (
    <span class={`clock clock-${stage}`} data-clock={c.name} data-stage={c.stage}>
      {name}: {text}
    </span>
  );
}

function ClaimCard({ v, d }: { v: ClaimView; d: ConsoleDeps }) {
  const c = v.claim;
  const s = c.subject;
  const site = s.unit ? d.parcels.profile(s.unit).siteName.zh : null;
  return (
    <li class="card" id={`claim-${c.id}`}>
      <p class="row">
        <a href={`/console/claims/${c.id}`}>
          <b>{c.ref}</b>
        </a>
        <span>{CLAIM_STATE_LABELS[c.state]}</span>
        {ACTIVE_CLAIM_STATES.has(c.state) && v.clocks.stage !== 'ok' ? <span class={`clock-${v.clocks.stage}`}>{STAGE_LABELS[v.clocks.stage]}</span> : ''}
      </p>
      <p class="row muted">
        <span class="wrap">{[s.carrier, s.trackingNumber].filter(Boolean).join(' ') || '—'}</span>
        {site ? <span>{`${site} ${s.compartment}号 box ${s.compartment}`}</span> : ''}
        <span>{maskPhone(c.phone)}</span>
        <span>{`${CHANNEL_LABELS[c.channel]} · ${formatInZone(c.openedAt, d.timeZone)}`}</span>
      </p>
      {ACTIVE_CLAIM_STATES.has(c.state) ? (
        <p class="row">
          <ClockText c={v.clocks.ack} tz={d.timeZone} />
          <ClockText c={v.clocks.resolve} tz={d.timeZone} />
        </p>
      ) : (
        ''
      )}
    </li>
  );
}

/** ?phone= is a full number (the claims of that resident) or its last 4 digits. */
const TAIL = /^\d{4}$/;

/** Claims, newest first: filters by state (default: still being handled), clock, unit and phone (or its last 4). */
export async function claimsPage(c: C, d: ConsoleDeps): Promise<Response> {
  const claims = claimsOf(d);
  const q = { state: c.req.query('state') ?? 'active', clock: c.req.query('clock') ?? '', unit: c.req.query('unit') ?? '', phone: (c.req.query('phone') ?? '').trim().slice(0, 20) };
  const errors: string[] = [];
  const states: ClaimState[] =
    q.state === 'active' ? [...ACTIVE_CLAIM_STATES] : q.state === 'all' ? [] : (CLAIM_STATES as readonly string[]).includes(q.state) ? [q.state as ClaimState] : (errors.push('state: 未知状态 unknown state'), []);
  if (q.clock && !(STAGES as readonly string[]).includes(q.clock)) errors.push('clock: 未知 unknown (ok, near, breached)');
  const units = claims.d.units;
  if (q.unit && !units.some((u) => u.id === q.unit)) errors.push('unit: 没有这个快递柜 no such unit');
  const tail = TAIL.test(q.phone) ? q.phone : null;
  const phone = q.phone && !tail ? normalizePhone(q.phone) : null;
  if (q.phone && !tail && !phone) errors.push('phone: 请输入手机号或尾号 4 位 a mobile number or its last 4 digits');

  let list: ClaimView[] = [];
  if (!errors.length) {
    const f: ClaimFilter = { limit: tail ? 500 : 100, ...(states.length ? { states } : {}) };
    if (q.clock) f.clock = q.clock as Stage;
    if (q.unit) f.unit = q.unit;
    if (phone) f.phone = phone;
    list = await claims.service.list(f);
    // no index by the last 4 digits: the newest 500 that pass the other filters are searched
    if (tail) list = list.filter((v) => v.claim.phone.endsWith(tail)).slice(0, 100);
  }
  const sel = (v: string, cur: string) => (v === cur ? { selected: true } : {});
  return page(
    c,
    d,
    { title: '申报 Claims', nav: 'claims', ...(errors.length ? { error: errors.join('; '), status: 400 as const } : {}) },
    <>
      <p>
        <a class="button" href="/console/claims/new">
          登记申报 Open a claim for a caller
        </a>
      </p>
      <form method="get" action="/console/claims" role="search" aria-label="筛选 Filter">
        <div class="filters">
          <div>
            <label for="state">状态 State</label>
            <select id="state" name="state">
              <option value="active" {...sel('active', q.state)}>
                处理中 being handled
              </option>
              <option value="all" {...sel('all', q.state)}>
                全部 all
              </option>
              {CLAIM_STATES.map((s) => (
                <option value={s} {...sel(s, q.state)}>
                  {CLAIM_STATE_LABELS[s]}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="clock">时限 Clock</label>
            <select id="clock" name="clock">
              <option value="" {...sel('', q.clock)}>
                全部 any
              </option>
              {STAGES.map((s) => (
                <option value={s} {...sel(s, q.clock)}>
                  {STAGE_LABELS[s]}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="unit">快递柜 Unit</label>
            <select id="unit" name="unit">
              <option value="" {...sel('', q.unit)}>
                全部 all
              </option>
              {units.map((u) => (
                <option value={u.id} {...sel(u.id, q.unit)}>
                  {`${u.siteName.zh} ${u.siteName.en}`}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="phone">手机尾号 Phone (last 4)</label>
            <input type="search" id="phone" name="phone" value={q.phone} inputmode="numeric" autocomplete="off" maxlength={20} />
          </div>
        </div>
        <div class="actions">
          <button type="submit">筛选 Filter</button>
        </div>
      </form>
      <section id="claims" data-live="claims" aria-live="polite">
        <h2>{`${list.length} 件申报 claim(s)`}</h2>
        <ul class="list">
          {list.map((v) => (
            <ClaimCard v={v} d={d} />
          ))}
        </ul>
      </section>
    </>,
  );
}

const blank = (v: unknown) => {
  const s = formText(v).trim();
  return s === '' ? undefined : s;
};

/** The open form's fields, as the API validates them (POST /v1/admin/claims). */
const OpenForm = z
  .object({ phone: Phone, channel: z.enum(['phone', 'visit', 'other']), parcelId: z.string().min(1).max(64).optional(), trackingNumber: Tracking.optional(), carrier: Carrier.optional(), description: Description })
  .refine(needSubject, subjectMessage);

type OpenValues = Partial<Record<'phone' | 'channel' | 'parcelId' | 'trackingNumber' | 'carrier' | 'description', string>>;

/** The form to take a claim down for a resident who called or came to the office; from a parcel's page, prefilled. */
export async function newClaimPage(
  c: C,
  d: ConsoleDeps,
  opts: { error?: string; status?: 400 | 403 | 404 | 409 | 429; values?: OpenValues; existing?: string } = {},
): Promise<Response> {
  claimsOf(d);
  const v = opts.values ?? { parcelId: c.req.query('parcel') ?? '' };
  const parcel: Parcel | null = v.parcelId ? await d.parcels.get(v.parcelId) : null;
  if (v.parcelId && !parcel && !opts.error) return page(c, d, { title: '没有这个包裹 No such parcel', nav: 'claims', status: 404 }, <p><a href="/console/claims/new">登记申报 Open a claim</a></p>);
  const channel = v.channel ?? 'phone';
  return page(
    c,
    d,
    { title: '登记申报 Open a claim for a caller', nav: 'claims', ...(opts.error ? { error: opts.error, status: opts.status ?? 400 } : {}) },
    <>
      {opts.existing ? (
        <p>
          <a href={`/console/claims/${opts.existing}`} id="existing-claim">
            查看处理中的申报 See the claim being handled
          </a>
        </p>
      ) : (
        ''
      )}
      <form method="post" action="/console/claims" class="card">
        <Csrf c={c} />
        {parcel ? (
          <>
            <input type="hidden" name="parcelId" value={parcel.id} />
            <p>
              包裹 Parcel{' '}
              <a href={`/console/parcels/${parcel.id}`} class="wrap">
                {`${parcel.carrier} ${parcel.trackingNumber}`}
              </a>
              {`（${d.parcels.profile(parcel.unit).siteName.zh} ${parcel.compartment}号 box ${parcel.compartment}）`}
            </p>
          </>
        ) : (
          <>
            <label for="trackingNumber">运单号 Tracking number</label>
            <input type="text" id="trackingNumber" name="trackingNumber" value={v.trackingNumber ?? ''} maxlength={40} autocomplete="off" required />
            <label for="carrier">快递公司（可选）Carrier (optional)</label>
            <input type="text" id="carrier" name="carrier" value={v.carrier ?? ''} maxlength={20} autocomplete="off" />
          </>
        )}
        <label for="phone">{parcel ? `住户手机号（留空：收件人 ${maskPhone(parcel.phone)}）Resident's phone (empty: the recipient)` : '住户手机号 Resident’s phone'}</label>
        <input type="text" id="phone" name="phone" value={v.phone ?? ''} inputmode="tel" autocomplete="off" maxlength={20} required={!parcel} />
        <fieldset>
          <legend>住户怎样联系的 How the resident reached the office</legend>
          {(['phone', 'visit', 'other'] as const).map((ch) => (
            <label class="choice">
              <input type="radio" name="channel" value={ch} checked={channel === ch} /> {CHANNEL_LABELS[ch]}
            </label>
          ))}
        </fieldset>
        <label for="description">情况说明 What happened</label>
        <textarea id="description" name="description" rows={4} maxlength={1000} required>
          {v.description ?? ''}
        </textarea>
        <div class="actions">
          <button type="submit">登记 Open the claim</button>
        </div>
      </form>
    </>,
  );
}

/** POST /console/claims: the same service, rules and refusals as POST /v1/admin/claims. */
export async function openClaimAction(c: C, d: ConsoleDeps): Promise<Response> {
  const claims = claimsOf(d);
  const body = await c.req.parseBody();
  const values: OpenValues = {};
  for (const k of ['phone', 'channel', 'parcelId', 'trackingNumber', 'carrier', 'description'] as const) values[k] = formText(body[k]).slice(0, 1200);
  const parcelId = blank(body.parcelId);
  const parcel = parcelId ? await d.parcels.get(parcelId) : null;
  const input = {
    phone: blank(body.phone) ?? parcel?.phone ?? '',
    channel: blank(body.channel),
    parcelId,
    trackingNumber: parcelId ? undefined : blank(body.trackingNumber),
    carrier: parcelId ? undefined : blank(body.carrier),
    description: formText(body.description),
  };
  try {
    const b = OpenForm.parse(input);
    const v = await claims.service.open(
      { phone: b.phone, channel: b.channel, description: b.description, parcelId: b.parcelId, trackingNumber: b.trackingNumber, carrier: b.carrier },
      staffActor(c.var.staff),
    );
    return c.redirect(`/console/claims/${v.claim.id}?done=claim-opened`, 303);
  } catch (err) {
    const known = describeError(err);
    if (!known) throw err;
    const existing = err instanceof ClaimError && err.code === 'duplicate' && typeof err.details?.claim === 'string' ? err.details.claim : undefined;
    return newClaimPage(c, d, { error: known.text, status: known.status as 400, values, ...(existing ? { existing } : {}) });
  }
}
