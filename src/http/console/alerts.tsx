import type { Context } from 'hono';
import { ALERT_LABELS, type Alert } from '../../alerts/types.js';
import { staffActor } from '../../staff/types.js';
import type { StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import type { ConsoleDeps } from './deps.js';
import { formatInZone } from './format.js';
import { formText } from './forms.js';
import { Csrf, page } from './layout.js';

type C = Context<StaffEnv>;

function detailText(a: Alert, tz: string): string {
  const d = a.detail;
  if (a.kind === 'keypad-locked' && typeof d.until === 'number') return `锁到 until ${formatInZone(d.until, tz)}`;
  if (a.kind === 'dead-letter') return `${d.what ?? ''}，${d.attempts ?? 0} 次 tries`;
  if (a.kind === 'parcel-missing') return String(d.reason ?? '');
  if (a.kind === 'claim-clock') return `${d.clock ?? ''} ${d.stage ?? ''}`;
  return '';
}

/** What ended an alert's condition (rules.ts: clearsFromEntry, alertEnded), in both languages. */
const CLEAR_REASONS: Record<string, string> = {
  'unit-online': '快递柜已恢复在线 unit back online',
  'door-closed': '柜门已关 door closed',
  'keypad-unlocked': '键盘已解锁 keypad unlocked',
  'door-working': '柜门已恢复正常 door working again',
  'door-opened': '柜门已能打开 door opened since',
  'claim-resolved': '理赔已解决 claim resolved',
  'claim-closed': '理赔已关闭 claim closed',
  'lockdown-lifted': '锁定已解除 lockdown lifted',
};

function clearText(reason: string | null): string {
  if (!reason) return '';
  if (reason.startsWith('parcel-')) return `包裹已找到 parcel found (${reason.slice(7)})`;
  return CLEAR_REASONS[reason] ?? reason;
}

function AlertItem({ a, c, tz }: { a: Alert; c: C; tz: string }) {
  const label = ALERT_LABELS[a.kind];
  return (
    <li class="card" id={`alert-${a.id}`}>
      <p class="row">
        <b>
          {label.zh} {label.en}
        </b>
        {a.unit ? <span>{a.unit}</span> : ''}
        {a.compartment !== undefined ? <span>{`${a.compartment}号 box ${a.compartment}`}</span> : ''}
        {a.parcel ? <a href={`/console/parcels/${a.parcel}`}>包裹 parcel</a> : ''}
        {a.repeats ? <span>{`又发生 ${a.repeats} 次 repeated ${a.repeats}×`}</span> : ''}
      </p>
      <p class="row muted">
        <span>{`发生 since ${formatInZone(a.at, tz)}`}</span>
        <span>{`报警 raised ${formatInZone(a.raisedAt, tz)}`}</span>
        <span>{detailText(a, tz)}</span>
      </p>
      {a.clearedAt !== null ? <p class="muted">{`已解除 cleared ${formatInZone(a.clearedAt, tz)} · ${clearText(a.clearReason)}`}</p> : ''}
      {a.ackedAt ? (
        <p class="muted">{`已确认 acknowledged by ${a.ackedBy?.name ?? ''} · ${formatInZone(a.ackedAt, tz)}`}</p>
      ) : (
        <form method="post" action={`/console/alerts/${a.id}/ack`}>
          <Csrf c={c} />
          <label for={`note-${a.id}`}>备注（可不填）Note (optional)</label>
          <input type="text" id={`note-${a.id}`} name="note" maxlength={200} />
          <div class="actions">
            <button type="submit">确认 Acknowledge</button>
          </div>
        </form>
      )}
    </li>
  );
}

/**
 * Open alerts first (each with its acknowledge form), then the recent acknowledged or cleared ones (a cleared alert
 * nobody acknowledged keeps its form).
 */
export async function alertsPage(c: C, d: ConsoleDeps): Promise<Response> {
  const [open, recent] = await Promise.all([d.alerts.open(), d.alerts.recent(50)]);
  const done = recent.filter((a) => a.ackedAt !== null || a.clearedAt !== null).slice(0, 20);
  return page(
    c,
    d,
    { title: '警报 Alerts', nav: 'alerts' },
    <>
      <section id="alerts-open" data-live="alerts">
        <h2>{`未确认 Open (${open.length})`}</h2>
        {open.length ? (
          <ul class="list">
            {open.map((a) => (
              <AlertItem a={a} c={c} tz={d.timeZone} />
            ))}
          </ul>
        ) : (
          <p class="muted">没有未确认的警报。No open alerts.</p>
        )}
      </section>
      <section id="alerts-done" data-live="alerts">
        <h2>最近已确认或已解除 Recently acknowledged or cleared</h2>
        <ul class="list">
          {done.map((a) => (
            <AlertItem a={a} c={c} tz={d.timeZone} />
          ))}
        </ul>
      </section>
    </>,
  );
}

export async function ackAlert(c: C, d: ConsoleDeps): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const note = formText((await c.req.parseBody()).note).trim().slice(0, 200);
  // the acknowledgement is the staff action: recorded with the member in the evidence log, in the same step
  const r = await d.alerts.ack(id, staffActor(c.var.staff), d.clock.now(), note || undefined);
  if (r === 'none') throw new ApiError(404, 'not_found', '没有这个警报。No such alert.');
  return c.redirect('/console/alerts?done=acked', 303);
}
