import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { isOverdue } from '../../alerts/inventory.js';
import { COLLECTABLE, type Parcel } from '../../domain/parcel.js';
import { maskPhone } from '../../notify/phone.js';
import { staffActor } from '../../staff/types.js';
import { parseSearch } from '../../store/search.js';
import type { StaffEnv } from '../auth.js';
import { recordStaffAction } from '../staff-actions.js';
import type { ConsoleDeps } from './deps.js';
import { ago, formatInZone, PARCEL_STATE_LABELS } from './format.js';
import { formText } from './forms.js';
import { Csrf, page } from './layout.js';
import { Timeline } from './timeline.js';

type C = Context<StaffEnv>;

export function ParcelCard({ p, d, now }: { p: Parcel; d: ConsoleDeps; now: number }) {
  const site = d.parcels.profile(p.unit).siteName;
  return (
    <li class="card">
      <p class="row">
        <a href={`/console/parcels/${p.id}`}>
          <b class="wrap">{p.trackingNumber}</b>
        </a>
        <span>{PARCEL_STATE_LABELS[p.state] ?? p.state}</span>
        {isOverdue(p, now) ? <span class="off">超期 overdue</span> : ''}
      </p>
      <p class="row muted">
        <span>
          {site.zh} {p.compartment}号 box {p.compartment}
        </span>
        <span>{p.carrier}</span>
        <span>{maskPhone(p.phone)}</span>
        <span>{formatInZone(p.createdAt, d.timeZone)}</span>
      </p>
    </li>
  );
}

/** Search by tracking number (any carrier) or the last 4 digits of the recipient's phone. */
export async function searchPage(c: C, d: ConsoleDeps): Promise<Response> {
  const q = (c.req.query('q') ?? '').slice(0, 60);
  const parsed = q ? parseSearch(q) : null;
  const found = parsed ? await d.search.find(parsed) : [];
  const now = d.clock.now();
  return page(
    c,
    d,
    { title: '查件 Find a parcel', nav: 'parcels', ...(q && !parsed ? { error: '请输入手机尾号 4 位或运单号。Type the last 4 digits of a phone, or a tracking number.', status: 400 as const } : {}) },
    <>
      <form method="get" action="/console/parcels" role="search">
        <label for="q">手机尾号或运单号 Phone's last 4 digits, or tracking number</label>
        <input type="search" id="q" name="q" value={q} inputmode="text" autocomplete="off" maxlength={60} required />
        <div class="actions">
          <button type="submit">查找 Search</button>
        </div>
      </form>
      {parsed ? (
        <section aria-live="polite">
          <h2>{`${found.length} 件 parcel(s)`}</h2>
          <ul class="list" id="results">
            {found.map((p) => (
              <ParcelCard p={p} d={d} now={now} />
            ))}
          </ul>
        </section>
      ) : (
        ''
      )}
    </>,
  );
}

export async function parcelPage(c: C, d: ConsoleDeps, opts: { error?: string; status?: 400 | 409 | 502; reason?: string } = {}): Promise<Response> {
  const p = await d.parcels.get(c.req.param('id') ?? '');
  if (!p) return page(c, d, { title: '没有这个包裹 No such parcel', nav: 'parcels', status: 404 }, <p><a href="/console/parcels">返回查件 Back to search</a></p>);
  const now = d.clock.now();
  const site = d.parcels.profile(p.unit).siteName;
  const reveal = c.req.query('reveal') === 'phone';
  // the full phone number is personal data: who looked is recorded (in the parcel's timeline)
  if (reveal) await recordStaffAction(c, 'parcel.view', { parcel: p.id, unit: p.unit, compartment: p.compartment }, now);
  const items = await d.evidence.timelines.of(p);
  const claimOpen = d.claims ? ((await d.claims.store.activeForParcel(p.id))[0] ?? null) : null;
  return page(
    c,
    d,
    { title: `包裹 Parcel ${p.trackingNumber}`, nav: 'parcels', ...(opts.error ? { error: opts.error, status: opts.status ?? 400 } : {}) },
    <div class="cols">
      <section>
        <div id="parcel-facts" data-live={`parcel:${p.id}`}>
          <dl class="facts">
            <dt>状态 State</dt>
            <dd>
              {PARCEL_STATE_LABELS[p.state] ?? p.state}
              {isOverdue(p, now) ? ' · 超期 overdue' : ''}
              {p.reason ? ` (${p.reason})` : ''}
            </dd>
            <dt>位置 Where</dt>
            <dd>
              {site.zh} {site.en}，{p.compartment}号格口 box {p.compartment}（{p.size}）
            </dd>
            <dt>快递 Carrier</dt>
            <dd class="wrap">
              {p.carrier} {p.trackingNumber}
            </dd>
            <dt>收件人 Recipient</dt>
            <dd>
              {reveal ? p.phone : maskPhone(p.phone)} {p.name ?? ''} {p.room ?? ''}{' '}
              {reveal ? '' : <a href={`/console/parcels/${p.id}?reveal=phone`}>显示号码 Show number</a>}
            </dd>
            <dt>存入 Stored</dt>
            <dd>{formatInZone(p.storedAt, d.timeZone)}</dd>
            <dt>期限 Deadline</dt>
            <dd>
              {formatInZone(p.deadline, d.timeZone)}
              {p.extended ? '（已延期 extended）' : ''}
            </dd>
            <dt>结束 Ended</dt>
            <dd>{formatInZone(p.endedAt, d.timeZone)}</dd>
            <dt>编号 Id</dt>
            <dd>
              <code>{p.id}</code>
            </dd>
          </dl>
        </div>
        {d.claims ? (
          <p id="parcel-claim" data-live="claims">
            {claimOpen ? (
              <a href={`/console/claims/${claimOpen}`}>申报处理中 A claim about this parcel is being handled</a>
            ) : (
              <a href={`/console/claims/new?parcel=${p.id}`} id="open-claim">
                登记申报 Open a claim about this parcel
              </a>
            )}
          </p>
        ) : (
          ''
        )}
        {COLLECTABLE.has(p.state) ? (
          <form method="post" action={`/console/parcels/${p.id}/open`} class="card">
            <h2>远程开门 Open its compartment</h2>
            <p class="muted">开门会记录您的姓名和原因。Your name and the reason are recorded.</p>
            <Csrf c={c} />
            <input type="hidden" name="nonce" value={randomBytes(9).toString('base64url')} />
            <label for="reason">原因（必填）Reason (required)</label>
            <input type="text" id="reason" name="reason" required minlength={3} maxlength={200} value={opts.reason ?? ''} />
            <div class="actions">
              <button type="submit">开门 Open</button>
            </div>
          </form>
        ) : (
          ''
        )}
      </section>
      <section id="parcel-timeline" data-live={`parcel:${p.id} unit:${p.unit}`}>
        <h2>记录 Timeline</h2>
        <Timeline items={items} tz={d.timeZone} />
      </section>
    </div>,
  );
}

export async function staffOpenAction(c: C, d: ConsoleDeps): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const body = await c.req.parseBody();
  const reason = formText(body.reason).trim();
  const nonce = formText(body.nonce).replace(/[^A-Za-z0-9_-]/g, '').slice(0, 24) || String(d.clock.now());
  if (reason.length < 3 || reason.length > 200) {
    return parcelPage(c, d, { error: '请写明开门原因（3 到 200 个字）。Give a reason: 3 to 200 characters.', status: 400, reason });
  }
  await recordStaffAction(c, 'parcel.open', { parcel: id, reason, via: 'console' }, d.clock.now());
  // an admin's open passes a lockdown (never the rate limits)
  const r = await d.parcels.staffOpen(id, staffActor(c.var.staff), reason, `staff-open-${id}-console-${nonce}`, { admin: c.var.staff.role === 'admin' });
  return c.redirect(`/console/parcels/${id}?done=${r.result === 'done' ? 'opened' : 'open-failed'}`, 303);
}

/** Parcels past their deadline and still in a compartment, oldest deadline first. */
export async function overduePage(c: C, d: ConsoleDeps): Promise<Response> {
  const now = d.clock.now();
  const overdue = (await d.inventory.liveParcels()).filter((p) => isOverdue(p, now)).sort((a, b) => (a.deadline ?? 0) - (b.deadline ?? 0));
  return page(
    c,
    d,
    { title: '超期包裹 Overdue parcels', nav: 'overdue' },
    <section id="overdue" data-live="parcels">
      <p>{`${overdue.length} 件 parcel(s)`}</p>
      <ul class="list">
        {overdue.map((p) => (
          <li class="card">
            <p class="row">
              <a href={`/console/parcels/${p.id}`}>
                <b class="wrap">{p.trackingNumber}</b>
              </a>
              <span>
                {d.parcels.profile(p.unit).siteName.zh} {p.compartment}号 box {p.compartment}
              </span>
            </p>
            <p class="row muted">
              <span>{`期限 due ${formatInZone(p.deadline, d.timeZone)}`}</span>
              <span>{p.deadline ? `超期 over by ${ago(now - p.deadline)}` : ''}</span>
              <span>{maskPhone(p.phone)}</span>
              <span>{p.carrier}</span>
            </p>
          </li>
        ))}
      </ul>
    </section>,
  );
}
