import type { Context } from 'hono';
import type { Lockdown, OpenGuard } from '../../bus/open-guard.js';
import type { StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { lockdownActions } from '../routes/lockdown.js';
import type { ConsoleDeps } from './deps.js';
import { formatInZone } from './format.js';
import { formText } from './forms.js';
import { Csrf, page } from './layout.js';
import { actorText } from './timeline.js';

type C = Context<StaffEnv>;

const guardOf = (d: ConsoleDeps): OpenGuard => {
  const g = d.commands.opens;
  if (!g) throw new ApiError(503, 'unavailable', 'this gateway runs without the open guard');
  return g;
};

function Held({ l, tz }: { l: Lockdown; tz: string }) {
  return (
    <span>
      {`自 since ${formatInZone(l.since, tz)} · ${l.cause === 'burst' ? '异常开门触发 tripped by a burst of opens' : actorText(l.by)} · ${l.reason}`}
    </span>
  );
}

/** On the overview and unit pages: what is locked down now (live). */
export async function LockdownBanner({ d }: { d: ConsoleDeps }) {
  const o = d.commands.opens ? await d.commands.opens.overview() : { fleet: null, units: {} as Record<string, Lockdown | null> };
  const units = Object.entries(o.units).filter((e): e is [string, Lockdown] => e[1] !== null);
  return (
    <div id="lockdown-banner" data-live="lockdown">
      {o.fleet || units.length ? (
        <div class="error" role="status">
          <p>
            <b>紧急锁定中 Locked down</b> · <a href="/console/lockdown">查看 View</a>
          </p>
          <ul>
            {o.fleet ? <li>全部快递柜 The whole fleet</li> : ''}
            {units.map(([u]) => (
              <li>{u}</li>
            ))}
          </ul>
        </div>
      ) : (
        ''
      )}
    </div>
  );
}

/** Emergency lockdown: any member may lock the fleet or a unit down (every open refused but an admin's); admins lift. */
export async function lockdownPage(c: C, d: ConsoleDeps, opts: { error?: string; status?: 400 } = {}): Promise<Response> {
  const o = await guardOf(d).overview();
  const admin = c.var.staff.role === 'admin';
  const units = await d.store.units();
  const LiftForm = ({ unit }: { unit: string | null }) =>
    admin ? (
      <form method="post" action="/console/lockdown/lift">
        <Csrf c={c} />
        <input type="hidden" name="unit" value={unit ?? ''} />
        <button type="submit">解除锁定 Lift</button>
      </form>
    ) : (
      <p class="muted">只有管理员可以解除。Only an admin may lift it.</p>
    );
  return page(
    c,
    d,
    { title: '紧急锁定 Lockdown', nav: 'lockdown', ...(opts.error ? { error: opts.error, status: opts.status ?? 400 } : {}) },
    <>
      <section id="lockdowns" data-live="lockdown">
        <div class="card">
          <h2>全部快递柜 Whole fleet</h2>
          {o.fleet ? (
            <>
              <p class="off">
                锁定中 Locked down · <Held l={o.fleet} tz={d.timeZone} />
              </p>
              <LiftForm unit={null} />
            </>
          ) : (
            <p class="on">正常 Not locked down</p>
          )}
        </div>
        {units.map((u) => {
          const l = o.units[u.id] ?? null;
          return (
            <div class="card">
              <h2>
                {u.siteName.zh} {u.siteName.en} <code class="muted">{u.id}</code>
              </h2>
              {l ? (
                <>
                  <p class="off">
                    锁定中 Locked down · <Held l={l} tz={d.timeZone} />
                  </p>
                  <LiftForm unit={u.id} />
                </>
              ) : (
                <p class="on">正常 Not locked down</p>
              )}
            </div>
          );
        })}
      </section>
      <form method="post" action="/console/lockdown" class="card">
        <h2>锁定 Lock down</h2>
        <p>锁定后，除管理员外任何人都不能开门，值班员工会收到通知。While locked down no door opens but an admin's; staff on duty are told.</p>
        <Csrf c={c} />
        <label for="ld-unit">范围 Scope</label>
        <select id="ld-unit" name="unit">
          <option value="">全部快递柜 Whole fleet</option>
          {units.map((u) => (
            <option value={u.id}>{`${u.siteName.zh} ${u.id}`}</option>
          ))}
        </select>
        <label for="ld-reason">原因（必填）Reason (required)</label>
        <input type="text" id="ld-reason" name="reason" required minlength={3} maxlength={200} />
        <div class="actions">
          <button type="submit" class="danger">
            锁定 Lock down
          </button>
        </div>
      </form>
    </>,
  );
}

const unitParam = (d: ConsoleDeps, v: unknown): string | null => {
  const id = formText(v);
  if (!id) return null;
  return d.parcels.profile(id).id;
};

export async function lockDown(c: C, d: ConsoleDeps): Promise<Response> {
  const body = await c.req.parseBody();
  const reason = formText(body.reason).trim().slice(0, 200);
  if (reason.length < 3) return lockdownPage(c, d, { error: '请写明锁定原因（3 到 200 个字）。Give a reason: 3 to 200 characters.' });
  await lockdownActions({ opens: guardOf(d), commands: d.commands, parcels: d.parcels }).lock(c, unitParam(d, body.unit), reason);
  return c.redirect('/console/lockdown?done=locked', 303);
}

export async function liftLockdown(c: C, d: ConsoleDeps): Promise<Response> {
  const body = await c.req.parseBody();
  await lockdownActions({ opens: guardOf(d), commands: d.commands, parcels: d.parcels }).lift(c, unitParam(d, body.unit));
  return c.redirect('/console/lockdown?done=lifted', 303);
}
