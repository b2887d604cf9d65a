import type { Context } from 'hono';
import type { ClaimDetail } from '../../claims/service.js';
import { OUTCOMES, type ClaimAction, type ClaimCommand, type ClaimEvent, type OutcomeKind } from '../../domain/claims.js';
import { maskPhone } from '../../notify/phone.js';
import { staffActor } from '../../staff/types.js';
import type { StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { recordStaffAction } from '../staff-actions.js';
import { CHANNEL_LABELS, CLAIM_STATE_LABELS, claimsOf, ClockText, OUTCOME_LABELS } from './claims.js';
import type { ConsoleDeps } from './deps.js';
import { formatInZone } from './format.js';
import { describeError, formText } from './forms.js';
import { Csrf, page } from './layout.js';
import { actorText, Timeline } from './timeline.js';

type C = Context<StaffEnv>;

/** What staff may do from the claim's page, in the order they usually come. */
export const CONSOLE_CLAIM_ACTIONS = ['acknowledge', 'investigate', 'ask', 'resolve', 'close', 'note'] as const;
type ConsoleAction = (typeof CONSOLE_CLAIM_ACTIONS)[number];

const ACTION_LABELS: Record<ClaimAction, string> = {
  open: '登记 opened',
  acknowledge: '受理 acknowledge',
  investigate: '调查 investigate',
  ask: '问住户 ask the resident',
  answer: '住户回复 answered',
  resolve: '处理完毕 resolve',
  close: '结案 close',
  reopen: '住户重新打开 reopened',
  rate: '住户评分 rated',
  note: '备注 note',
};

const MAX_TEXT = 1000;

function LogLine({ e, tz }: { e: ClaimEvent; tz: string }) {
  return (
    <li>
      <span class="when">{formatInZone(e.at, tz)}</span> {ACTION_LABELS[e.action]}
      {e.from !== e.to ? ` · ${e.from ? CLAIM_STATE_LABELS[e.from] : ''} → ${CLAIM_STATE_LABELS[e.to]}` : ''}
      <br />
      {e.outcome ? (
        <>
          {`结果 outcome: ${OUTCOME_LABELS[e.outcome.kind]}${e.outcome.reason ? ` — ${e.outcome.reason}` : ''}`}
          <br />
        </>
      ) : (
        ''
      )}
      {e.rating ? (
        <>
          {`评分 rating: ${e.rating.score}/5`}
          <br />
        </>
      ) : (
        ''
      )}
      {e.note ? (
        <>
          <span class="wrap">{e.note}</span>
          <br />
        </>
      ) : (
        ''
      )}
      <span class="muted wrap">{actorText(e.by)}</span>
    </li>
  );
}

/** A note field (optional unless `required`), named as the API names it. */
function TextField({ id, name, label, required }: { id: string; name: string; label: string; required?: boolean }) {
  return (
    <>
      <label for={id}>{label}</label>
      <textarea id={id} name={name} rows={2} maxlength={MAX_TEXT} required={required ?? false}></textarea>
    </>
  );
}

function ActionForm({ c, id, action, children, danger }: { c: C; id: string; action: ConsoleAction; children?: unknown; danger?: boolean }) {
  return (
    <form method="post" action={`/console/claims/${id}/${action}`} class="card" id={`act-${action}`}>
      <Csrf c={c} />
      {children as never}
      <div class="actions">
        <button type="submit" class={danger ? 'secondary' : undefined}>
          {ACTION_LABELS[action]}
        </button>
      </div>
    </form>
  );
}

function Actions({ c, v }: { c: C; v: ClaimDetail }) {
  const id = v.claim.id;
  const can = new Set(v.actions);
  return (
    <section id="claim-actions" data-live={`claim:${id}`}>
      <h2>处理 Actions</h2>
      {can.has('acknowledge') ? (
        <ActionForm c={c} id={id} action="acknowledge">
          <TextField id="ack-note" name="note" label="备注（可选）Note (optional)" />
        </ActionForm>
      ) : (
        ''
      )}
      {can.has('investigate') ? (
        <ActionForm c={c} id={id} action="investigate">
          <TextField id="inv-note" name="note" label="备注（可选）Note (optional)" />
        </ActionForm>
      ) : (
        ''
      )}
      {can.has('resolve') ? (
        <ActionForm c={c} id={id} action="resolve">
          <label for="outcome">结果 Outcome</label>
          <select id="outcome" name="outcome" required>
            {OUTCOMES.map((o) => (
              <option value={o}>{OUTCOME_LABELS[o]}</option>
            ))}
          </select>
          <TextField id="res-reason" name="reason" label="告诉住户的原因（不予受理、其他：必填）Reason the resident is told (required for rejected, other)" />
          <TextField id="res-note" name="note" label="内部备注（可选）Internal note (optional)" />
        </ActionForm>
      ) : (
        ''
      )}
      {can.has('ask') ? (
        <ActionForm c={c} id={id} action="ask">
          <TextField id="ask-question" name="question" label="问住户（短信发送）Question for the resident (sent by SMS)" required />
        </ActionForm>
      ) : (
        ''
      )}
      {can.has('close') ? (
        <ActionForm c={c} id={id} action="close" danger>
          <TextField id="close-note" name="note" label="备注（可选）Note (optional)" />
        </ActionForm>
      ) : (
        ''
      )}
      {can.has('note') ? (
        <ActionForm c={c} id={id} action="note" danger>
          <TextField id="note-text" name="text" label="内部备注（住户看不到）Internal note (residents never see it)" required />
        </ActionForm>
      ) : (
        ''
      )}
    </section>
  );
}

/** One claim: its facts, clocks, actions, its own log and the evidence timeline of its parcel. */
export async function claimPage(c: C, d: ConsoleDeps, opts: { error?: string; status?: 400 | 403 | 404 | 409 | 429 } = {}): Promise<Response> {
  const claims = claimsOf(d);
  const v = await claims.service.detail(c.req.param('id') ?? '');
  if (!v) return page(c, d, { title: '没有这个申报 No such claim', nav: 'claims', status: 404 }, <p><a href="/console/claims">返回申报 Back to the claims</a></p>);
  const cl = v.claim;
  const s = cl.subject;
  const reveal = c.req.query('reveal') === 'phone';
  if (reveal) await recordStaffAction(c, 'claim.view', { claimId: cl.id, ref: cl.ref }, d.clock.now());
  const site = s.unit ? d.parcels.profile(s.unit).siteName : null;
  return page(
    c,
    d,
    { title: `申报 Claim ${cl.ref}`, nav: 'claims', ...(opts.error ? { error: opts.error, status: opts.status ?? 400 } : {}) },
    <div class="cols">
      <section>
        <div id="claim-facts" data-live={`claim:${cl.id}`}>
          <dl class="facts">
            <dt>状态 State</dt>
            <dd id="claim-state" data-state={cl.state}>
              {CLAIM_STATE_LABELS[cl.state]}
            </dd>
            <dt>时限 Clocks</dt>
            <dd>
              <ClockText c={v.clocks.ack} tz={d.timeZone} />
              <br />
              <ClockText c={v.clocks.resolve} tz={d.timeZone} />
            </dd>
            <dt>包裹 Parcel</dt>
            <dd class="wrap">
              {s.parcelId ? <a href={`/console/parcels/${s.parcelId}`}>{`${s.carrier ?? ''} ${s.trackingNumber ?? ''}`}</a> : `${s.carrier ?? ''} ${s.trackingNumber ?? '—'}（系统中没有 not seen by the lockers）`}
              {site ? `，${site.zh} ${s.compartment}号 box ${s.compartment}` : ''}
            </dd>
            <dt>住户 Resident</dt>
            <dd>
              {reveal ? cl.phone : maskPhone(cl.phone)} {reveal ? '' : <a href={`/console/claims/${cl.id}?reveal=phone`}>显示号码 Show number</a>}
            </dd>
            <dt>来源 Channel</dt>
            <dd>
              {CHANNEL_LABELS[cl.channel]} · {actorText(cl.openedBy)}
            </dd>
            <dt>登记 Opened</dt>
            <dd>{formatInZone(cl.openedAt, d.timeZone)}</dd>
            <dt>说明 Description</dt>
            <dd class="wrap">{cl.description}</dd>
            {cl.question ? (
              <>
                <dt>问住户 Asked</dt>
                <dd class="wrap">{cl.question}</dd>
              </>
            ) : (
              ''
            )}
            {cl.outcome ? (
              <>
                <dt>结果 Outcome</dt>
                <dd id="claim-outcome" class="wrap">
                  {OUTCOME_LABELS[cl.outcome.kind]}
                  {cl.outcome.reason ? ` — ${cl.outcome.reason}` : ''}
                </dd>
              </>
            ) : (
              ''
            )}
            {cl.rating ? (
              <>
                <dt>评分 Rating</dt>
                <dd>{`${cl.rating.score}/5 ${cl.rating.comment ?? ''}`}</dd>
              </>
            ) : (
              ''
            )}
            <dt>编号 Id</dt>
            <dd>
              <code>{cl.id}</code>
            </dd>
          </dl>
        </div>
        <p class="row">
          <a href={`/v1/admin/claims/${cl.id}/print`}>打印 Print (A4)</a>
          <a href={`/v1/admin/claims/${cl.id}/export`}>导出 Export (JSON)</a>
          <span class="muted">（会被记录 recorded）</span>
        </p>
        <Actions c={c} v={v} />
        <section id="claim-log" data-live={`claim:${cl.id}`}>
          <h2>申报记录 Claim history</h2>
          <ol class="timeline">
            {v.log.map((e) => (
              <LogLine e={e} tz={d.timeZone} />
            ))}
          </ol>
        </section>
      </section>
      <section id="claim-timeline" data-live={v.parcel ? `parcel:${v.parcel.id} unit:${v.parcel.unit}` : `claim:${cl.id}`}>
        <h2>包裹记录 Parcel timeline</h2>
        {v.parcel ? <Timeline items={v.timeline} tz={d.timeZone} /> : <p class="muted">这个运单号没有进过快递柜。This tracking number never reached a locker.</p>}
      </section>
    </div>,
  );
}

/** The command of a console action form, as the API builds it from the same fields. */
function command(action: ConsoleAction, body: Record<string, unknown>): ClaimCommand {
  const text = (k: string) => {
    const t = formText(body[k]).trim();
    if (t.length > MAX_TEXT) throw new ApiError(400, 'validation_failed', `${k}: 最多 ${MAX_TEXT} 字 at most ${MAX_TEXT} characters`);
    return t || null;
  };
  const required = (k: string): string => {
    const t = text(k);
    if (!t) throw new ApiError(400, 'validation_failed', `${k}: 不能为空 must not be empty`);
    return t;
  };
  switch (action) {
    case 'acknowledge':
    case 'investigate':
    case 'close':
      return { action, note: text('note') };
    case 'ask':
      return { action, question: required('question') };
    case 'note':
      return { action, text: required('text') };
    case 'resolve': {
      const kind = formText(body.outcome);
      if (!(OUTCOMES as readonly string[]).includes(kind)) throw new ApiError(400, 'validation_failed', `outcome: 请选择结果 choose one of ${OUTCOMES.join(', ')}`);
      return { action, outcome: { kind: kind as OutcomeKind, reason: text('reason') }, note: text('note') };
    }
  }
}

/** POST /console/claims/{id}/{action}: the claim service's rules and refusals, as on the API. */
export async function claimAction(c: C, d: ConsoleDeps): Promise<Response> {
  const claims = claimsOf(d);
  const id = c.req.param('id') ?? '';
  const action = c.req.param('action') as ConsoleAction;
  const body = await c.req.parseBody();
  try {
    await claims.service.act(id, command(action, body), staffActor(c.var.staff));
  } catch (err) {
    const known = describeError(err);
    if (!known || known.status === 404) throw err;
    return claimPage(c, d, { error: known.text, status: known.status as 400 });
  }
  return c.redirect(`/console/claims/${id}?done=claim-${action}`, 303);
}
