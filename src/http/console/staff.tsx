import type { Context } from 'hono';
import { StaffError } from '../../staff/errors.js';
import { STAFF_ROLES, type StaffRole } from '../../staff/types.js';
import type { StaffEnv } from '../auth.js';
import { recordStaffAction } from '../staff-actions.js';
import type { ConsoleDeps } from './deps.js';
import { formatInZone } from './format.js';
import { formText } from './forms.js';
import { Csrf, page } from './layout.js';

type C = Context<StaffEnv>;

const ROLE_LABEL: Record<StaffRole, string> = { staff: '员工 staff', admin: '管理员 admin' };
const isRole = (v: string): v is StaffRole => (STAFF_ROLES as readonly string[]).includes(v);

/** Admins only (the route says so): members, add one, disable/enable, change role, set a new password. */
export async function staffPage(c: C, d: ConsoleDeps, opts: { error?: string; status?: 400 | 404 | 409; name?: string } = {}): Promise<Response> {
  const members = await d.auth.staff.list();
  return page(
    c,
    d,
    { title: '员工管理 Staff members', nav: 'staff', ...(opts.error ? { error: opts.error, status: opts.status ?? 400 } : {}) },
    <>
      <section id="members" data-live="staff">
        <ul class="list">
          {members.map((m) => (
            <li class="card">
              <p class="row">
                <b>{m.name}</b>
                <span>{ROLE_LABEL[m.role]}</span>
                <span class={m.active ? 'on' : 'off'}>{m.active ? '在用 active' : '已停用 disabled'}</span>
                <span class="muted">{`${formatInZone(m.createdAt, d.timeZone)} 加入 added`}</span>
              </p>
              <details>
                <summary>{`修改 Change ${m.name}`}</summary>
                <form method="post" action={`/console/staff/${m.id}/active`}>
                  <Csrf c={c} />
                  <input type="hidden" name="active" value={m.active ? 'off' : 'on'} />
                  <button type="submit" class={m.active ? 'danger' : ''}>
                    {m.active ? '停用 Disable' : '启用 Enable'}
                  </button>
                </form>
                <form method="post" action={`/console/staff/${m.id}/role`}>
                  <Csrf c={c} />
                  <label for={`role-${m.id}`}>角色 Role</label>
                  <select id={`role-${m.id}`} name="role">
                    {STAFF_ROLES.map((r) => (
                      <option value={r} selected={r === m.role}>
                        {ROLE_LABEL[r]}
                      </option>
                    ))}
                  </select>
                  <div class="actions">
                    <button type="submit" class="secondary">
                      保存角色 Save role
                    </button>
                  </div>
                </form>
                <form method="post" action={`/console/staff/${m.id}/password`}>
                  <Csrf c={c} />
                  <label for={`pw-${m.id}`}>新密码（至少 10 位）New password (10+ characters)</label>
                  <input type="password" id={`pw-${m.id}`} name="password" minlength={10} maxlength={200} autocomplete="new-password" required />
                  <div class="actions">
                    <button type="submit" class="secondary">
                      设置密码 Set password
                    </button>
                  </div>
                </form>
              </details>
            </li>
          ))}
        </ul>
      </section>
      <form method="post" action="/console/staff" class="card">
        <h2>添加员工 Add a member</h2>
        <Csrf c={c} />
        <label for="new-name">姓名 Name</label>
        <input type="text" id="new-name" name="name" maxlength={40} required value={opts.name ?? ''} autocomplete="off" />
        <label for="new-role">角色 Role</label>
        <select id="new-role" name="role">
          {STAFF_ROLES.map((r) => (
            <option value={r}>{ROLE_LABEL[r]}</option>
          ))}
        </select>
        <label for="new-password">密码（至少 10 位）Password (10+ characters)</label>
        <input type="password" id="new-password" name="password" minlength={10} maxlength={200} autocomplete="new-password" required />
        <div class="actions">
          <button type="submit">添加 Add</button>
        </div>
      </form>
    </>,
  );
}

/** The service refuses bad names, weak passwords, the last admin's demotion: shown on the page, nothing changed. */
async function orPage(c: C, d: ConsoleDeps, fn: () => Promise<void>, name?: string): Promise<Response> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof StaffError)) throw err;
    const status = err.code === 'not_found' ? 404 : err.code === 'invalid' ? 400 : 409;
    return staffPage(c, d, { error: err.message, status, ...(name ? { name } : {}) });
  }
  return c.redirect(`/console/staff?done=${name !== undefined ? 'member-added' : 'member-changed'}`, 303);
}

export async function addMember(c: C, d: ConsoleDeps): Promise<Response> {
  const body = await c.req.parseBody();
  const name = formText(body.name).trim().slice(0, 60);
  const role = formText(body.role);
  const password = formText(body.password).slice(0, 300);
  return orPage(
    c,
    d,
    async () => {
      if (!isRole(role)) throw new StaffError('invalid', 'role: staff or admin', 'role');
      const m = await d.auth.staff.add({ name, role, password });
      await recordStaffAction(c, 'staff.add', { memberId: m.id, name: m.name, role: m.role, via: 'console' }, d.clock.now());
    },
    name,
  );
}

export async function changeMember(c: C, d: ConsoleDeps): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const what = c.req.param('what');
  const body = await c.req.parseBody();
  return orPage(c, d, async () => {
    if (what === 'active') {
      const active = formText(body.active) === 'on';
      const m = await d.auth.staff.setActive(id, active);
      await recordStaffAction(c, `staff.${active ? 'enable' : 'disable'}`, { memberId: m.id, name: m.name, via: 'console' }, d.clock.now());
    } else if (what === 'role') {
      const role = formText(body.role);
      if (!isRole(role)) throw new StaffError('invalid', 'role: staff or admin', 'role');
      const m = await d.auth.staff.setRole(id, role);
      await recordStaffAction(c, 'staff.role', { memberId: m.id, name: m.name, role: m.role, via: 'console' }, d.clock.now());
    } else if (what === 'password') {
      const m = await d.auth.staff.resetPassword(id, formText(body.password).slice(0, 300));
      await recordStaffAction(c, 'staff.password.reset', { memberId: m.id, name: m.name, via: 'console' }, d.clock.now());
    } else throw new StaffError('not_found', `nothing to change called ${what}`);
  });
}
