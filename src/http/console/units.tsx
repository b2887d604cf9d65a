import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { cellState, type SlotRecord } from '../../alerts/inventory.js';
import { COLLECTABLE } from '../../domain/parcel.js';
import { staffActor } from '../../staff/types.js';
import type { StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { recordStaffAction } from '../staff-actions.js';
import type { ConsoleDeps } from './deps.js';
import { PARCEL_STATE_LABELS } from './format.js';
import { formText } from './forms.js';
import { Csrf, page } from './layout.js';
import { LockdownBanner } from './lockdown.js';
import { CELL_LABELS, Legend, UnitCard, UnitStatus } from './overview.js';

type C = Context<StaffEnv>;

const Reason = ({ id, required }: { id: string; required?: boolean }) => (
  <>
    <label for={id}>{required ? '原因（必填）Reason (required)' : '原因 Reason'}</label>
    <input type="text" id={id} name="reason" maxlength={200} minlength={required ? 3 : undefined} required={required} />
  </>
);

/** One unit: its state and grid (live), then each compartment with its parcels, open and service forms. */
export async function unitPage(c: C, d: ConsoleDeps, opts: { error?: string; status?: 400 } = {}): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const u = await d.store.unit(id);
  if (!u) return page(c, d, { title: '没有这个快递柜 No such unit', nav: 'overview', status: 404 }, <p><a href="/console">返回 Back</a></p>);
  const now = d.clock.now();
  const slots: ReadonlyMap<number, SlotRecord> = (await d.inventory.slots([u.id])).get(u.id) ?? new Map();
  const base = `/console/units/${encodeURIComponent(u.id)}`;
  return page(
    c,
    d,
    { title: `${u.siteName.zh} ${u.siteName.en}`, nav: 'overview', ...(opts.error ? { error: opts.error, status: opts.status ?? 400 } : {}) },
    <>
      <LockdownBanner d={d} />
      <Legend />
      <UnitCard u={u} slots={slots} tz={d.timeZone} now={now} />
      <section class="card">
        <h2>整柜 Whole unit</h2>
        <UnitStatus u={u} tz={d.timeZone} now={now} />
        <form method="post" action={`${base}/service`}>
          <Csrf c={c} />
          <input type="hidden" name="outOfService" value={u.outOfService ? 'off' : 'on'} />
          <Reason id="unit-reason" required={!u.outOfService} />
          <div class="actions">
            <button type="submit" class={u.outOfService ? '' : 'danger'}>
              {u.outOfService ? '恢复使用 Put back in service' : '停用整柜 Take the unit out of service'}
            </button>
          </div>
        </form>
        {u.keypad === 'locked' ? (
          <form method="post" action={`${base}/keypad-unlock`}>
            <Csrf c={c} />
            <button type="submit">解锁键盘 Unlock the keypad</button>
          </form>
        ) : (
          ''
        )}
      </section>
      <h2>格口 Compartments</h2>
      {u.compartments.map((comp) => {
        const rec = slots.get(comp.no) ?? null;
        const st = cellState(comp, rec, now);
        const waiting = rec?.parcels.find((p) => COLLECTABLE.has(p.state));
        return (
          <details class="card" id={`c${comp.no}`}>
            <summary>
              <b>{`${comp.no}号 box ${comp.no}`}</b> · {comp.size} · {CELL_LABELS[st]}
            </summary>
            {rec?.parcels.length ? (
              <ul>
                {rec.parcels.map((p) => (
                  <li>
                    <a href={`/console/parcels/${p.id}`} class="wrap">
                      {p.trackingNumber}
                    </a>{' '}
                    {PARCEL_STATE_LABELS[p.state] ?? p.state}
                  </li>
                ))}
              </ul>
            ) : (
              <p class="muted">没有包裹 No parcel.</p>
            )}
            <form method="post" action={`${base}/compartments/${comp.no}/open`}>
              <Csrf c={c} />
              <input type="hidden" name="nonce" value={randomBytes(9).toString('base64url')} />
              <Reason id={`open-reason-${comp.no}`} required />
              <div class="actions">
                <button type="submit">{waiting ? '开门（按包裹取件）Open (as a pickup)' : '开门 Open'}</button>
              </div>
            </form>
            <form method="post" action={`${base}/compartments/${comp.no}/service`}>
              <Csrf c={c} />
              <input type="hidden" name="outOfService" value={comp.outOfService ? 'off' : 'on'} />
              <Reason id={`svc-reason-${comp.no}`} required={!comp.outOfService} />
              <div class="actions">
                <button type="submit" class="secondary">
                  {comp.outOfService ? '恢复使用 Back in service' : '停用 Out of service'}
                </button>
              </div>
            </form>
          </details>
        );
      })}
    </>,
  );
}

async function reasonOf(c: C, required: boolean): Promise<{ reason: string; nonce: string; ok: boolean }> {
  const body = await c.req.parseBody();
  const reason = formText(body.reason).trim().slice(0, 200);
  const nonce = formText(body.nonce).replace(/[^A-Za-z0-9_-]/g, '').slice(0, 24);
  return { reason, nonce, ok: !required || reason.length >= 3 };
}

/**
 * Open a compartment. One with a parcel waiting opens through that parcel's pickup intent (ParcelService.staffOpen),
 * so the door events that follow read as a collection, never as a parcel gone missing; an empty one by a plain open
 * command. Either way with the member and the reason recorded.
 */
export async function openCompartment(c: C, d: ConsoleDeps): Promise<Response> {
  const unit = c.req.param('id') ?? '';
  const no = Number(c.req.param('no'));
  const u = await d.store.unit(unit);
  if (!u || !u.compartments.some((x) => x.no === no)) throw new ApiError(404, 'not_found', `没有这个格口 no compartment ${no} at ${unit}`);
  const { reason, nonce, ok } = await reasonOf(c, true);
  if (!ok) return unitPage(c, d, { error: '请写明开门原因（3 到 200 个字）。Give a reason: 3 to 200 characters.' });
  const ref = nonce || String(d.clock.now());
  const rec = (await d.inventory.slots([unit])).get(unit)?.get(no);
  const waiting = rec?.parcels.find((p) => COLLECTABLE.has(p.state));
  // an admin's open passes a lockdown (never the rate limits)
  const admin = c.var.staff.role === 'admin';
  let result: string;
  if (waiting) {
    await recordStaffAction(c, 'parcel.open', { parcel: waiting.id, reason, via: 'console' }, d.clock.now());
    result = (await d.parcels.staffOpen(waiting.id, staffActor(c.var.staff), reason, `staff-open-${waiting.id}-console-${ref}`, { admin })).result;
  } else {
    const command = { op: 'open' as const, compartment: no };
    await recordStaffAction(c, 'unit.command', { unit, command, reason, via: 'console' }, d.clock.now());
    const opts = { id: `staff-console-${unit}-${no}-${ref}`, reason: `staff: ${reason}`, actor: staffActor(c.var.staff), admin };
    result = (await d.commands.send(unit, command, opts)).result ?? 'timed_out';
  }
  return c.redirect(`/console/units/${encodeURIComponent(unit)}?done=${result === 'done' ? 'opened' : 'open-failed'}#c${no}`, 303);
}

/** Out of service and back: a unit (no new parcels; waiting ones can still be collected) or one compartment. */
export async function setService(c: C, d: ConsoleDeps): Promise<Response> {
  const unit = c.req.param('id') ?? '';
  const noParam = c.req.param('no');
  const no = noParam === undefined ? undefined : Number(noParam);
  const u = await d.store.unit(unit);
  if (!u || (no !== undefined && !u.compartments.some((x) => x.no === no))) throw new ApiError(404, 'not_found', `no such unit or compartment`);
  const body = await c.req.parseBody();
  const outOfService = formText(body.outOfService) === 'on';
  const reason = formText(body.reason).trim().slice(0, 200);
  if (outOfService && reason.length < 3) return unitPage(c, d, { error: '停用需要写明原因（3 到 200 个字）。Taking out of service needs a reason: 3 to 200 characters.' });
  const now = d.clock.now();
  await d.store.apply(
    { unit, at: now, source: {}, kind: 'service', outOfService, ...(no !== undefined ? { compartment: no } : {}), reason: reason ? `staff: ${reason}` : 'staff' },
    { mode: 'none' },
    now,
    staffActor(c.var.staff),
  );
  await recordStaffAction(c, no === undefined ? 'unit.service' : 'compartment.service', { unit, ...(no !== undefined ? { compartment: no } : {}), outOfService, reason: reason || null }, now);
  return c.redirect(`/console/units/${encodeURIComponent(unit)}?done=${outOfService ? 'service-off' : 'service-on'}${no !== undefined ? `#c${no}` : ''}`, 303);
}

export async function unlockKeypad(c: C, d: ConsoleDeps): Promise<Response> {
  const unit = c.req.param('id') ?? '';
  if (!(await d.store.unit(unit))) throw new ApiError(404, 'not_found', `no unit ${unit}`);
  await d.parcels.unlockKeypad(unit, 'staff', undefined, staffActor(c.var.staff));
  await recordStaffAction(c, 'unit.keypad-unlock', { unit, via: 'console' }, d.clock.now());
  return c.redirect(`/console/units/${encodeURIComponent(unit)}?done=member-changed`, 303);
}
