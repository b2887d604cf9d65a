import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import type { StaffEnv } from '../auth.js';
import { csrfField } from '../csrf.js';
import type { ConsoleDeps } from './deps.js';

export type NavKey = 'overview' | 'parcels' | 'overdue' | 'alerts' | 'notices' | 'audit' | 'lockdown' | 'claims' | 'report' | 'staff';

/** The menu: the pages used all day first; the rest behind "更多 More" (a <details>: no script), so it fits a phone. */
const NAV: { key: NavKey; href: string; label: string; admin?: boolean; more?: boolean }[] = [
  { key: 'overview', href: '/console', label: '总览 Overview' },
  { key: 'parcels', href: '/console/parcels', label: '查件 Parcels' },
  { key: 'claims', href: '/console/claims', label: '申报 Claims' },
  { key: 'alerts', href: '/console/alerts', label: '警报 Alerts' },
  { key: 'overdue', href: '/console/overdue', label: '超期 Overdue', more: true },
  { key: 'notices', href: '/console/notices', label: '通知失败 Failed notices', more: true },
  { key: 'audit', href: '/console/audit', label: '盘点 Audit', more: true },
  { key: 'lockdown', href: '/console/lockdown', label: '紧急锁定 Lockdown', more: true },
  { key: 'report', href: '/console/reports', label: '月报 Monthly report', admin: true, more: true },
  { key: 'staff', href: '/console/staff', label: '员工 Staff', admin: true, more: true },
];

/**
 * Console pages allow nothing from another host, and no inline script or style: the one stylesheet and the one
 * script come from /console/static. Forms post only here; no page may be framed.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Messages after a form did its work (`?done=…`): codes only, so a link cannot put words in the console's mouth. */
export const DONE: Record<string, string> = {
  opened: '已发送开门指令。The door was asked to open.',
  'open-failed': '开门未成功，请查看记录。The door did not open: see the record.',
  'service-off': '已停用。Taken out of service.',
  'service-on': '已恢复使用。Back in service.',
  acked: '警报已确认。Alert acknowledged.',
  retried: '已重新发送。Sent again.',
  'member-added': '已添加员工。Member added.',
  'member-changed': '已保存。Saved.',
  locked: '已锁定，只有管理员可以开门。Locked down: only an admin may open.',
  lifted: '已解除锁定。Lockdown lifted.',
  'claim-opened': '申报已登记。The claim is taken down.',
  'claim-acknowledge': '已受理。Acknowledged.',
  'claim-investigate': '已开始调查。Under investigation.',
  'claim-ask': '已向住户提问，等待回复。The resident was asked; waiting for them.',
  'claim-resolve': '已处理完毕，住户会收到短信。Resolved; the resident is texted.',
  'claim-close': '已结案。Closed.',
  'claim-note': '备注已保存。Note saved.',
};

function NavItem({ n, nav, openAlerts }: { n: (typeof NAV)[number]; nav: NavKey | null; openAlerts: number }) {
  return (
    <li>
      <a href={n.href} aria-current={n.key === nav ? 'page' : undefined}>
        {n.label}
        {n.key === 'alerts' ? (
          <span id="nav-alerts" data-live="alerts">
            {openAlerts > 0 ? <span class="badge">{openAlerts}</span> : ''}
          </span>
        ) : (
          ''
        )}
      </a>
    </li>
  );
}

interface LayoutProps {
  c: Context<StaffEnv>;
  title: string;
  nav: NavKey | null;
  openAlerts: number;
  flash?: string | undefined;
  error?: string | undefined;
  children?: Child;
}

export function Layout({ c, title, nav, openAlerts, flash, error, children }: LayoutProps) {
  const me = c.var.staff;
  const items = NAV.filter((n) => !n.admin || me.role === 'admin');
  const more = items.filter((n) => n.more);
  return (
    <html lang="zh-CN">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <link rel="icon" href="data:," />
        <title>{`${title} · 快递柜控制台 Locker console`}</title>
        <link rel="stylesheet" href="/console/static/console.css" />
        <script src="/console/static/live.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">跳到正文 Skip to content</a>
        <header class="top">
          <div class="who">
            <span class="brand">里厍快递柜 Lishe lockers</span>
            <span>
              {me.name}（{me.role === 'admin' ? '管理员 admin' : '员工 staff'}）{' '}
              <span id="live-status" class="live" role="status">
                静态 Static
              </span>
            </span>
            <form method="post" action="/console/logout">
              {csrfField(c)}
              <button type="submit" class="secondary">
                退出 Sign out
              </button>
            </form>
          </div>
          <nav aria-label="主菜单 Main menu">
            <ul>
              {items.filter((n) => !n.more).map((n) => (
                <NavItem n={n} nav={nav} openAlerts={openAlerts} />
              ))}
            </ul>
            <details class="more">
              <summary aria-current={more.some((n) => n.key === nav) ? 'page' : undefined}>更多 More</summary>
              <ul>
                {more.map((n) => (
                  <NavItem n={n} nav={nav} openAlerts={openAlerts} />
                ))}
                {me.role === 'admin' ? (
                  <li>
                    <a href="/admin/queues">队列 Queues</a>
                  </li>
                ) : (
                  ''
                )}
              </ul>
            </details>
          </nav>
        </header>
        <main id="main">
          <h1>{title}</h1>
          {flash ? (
            <p class="flash" role="status">
              {flash}
            </p>
          ) : (
            ''
          )}
          {error ? (
            <p class="error" role="alert">
              {error}
            </p>
          ) : (
            ''
          )}
          {children}
        </main>
      </body>
    </html>
  );
}

/** Render a console page: the layout, the open-alert count, no caching, the console's content security policy. */
export async function page(
  c: Context<StaffEnv>,
  d: Pick<ConsoleDeps, 'alerts'>,
  opts: { title: string; nav: NavKey | null; error?: string; status?: 200 | 400 | 403 | 404 | 409 | 422 | 429 | 502 | 503 },
  body: Child,
): Promise<Response> {
  const done = c.req.query('done');
  const openAlerts = await d.alerts.openCount();
  const html = await (
    <Layout c={c} title={opts.title} nav={opts.nav} openAlerts={openAlerts} flash={done ? DONE[done] : undefined} error={opts.error}>
      {body}
    </Layout>
  ).toString();
  c.header('Content-Security-Policy', CONSOLE_CSP);
  c.header('Cache-Control', 'no-store');
  return c.html(`<!doctype html>${html}`, opts.status ?? 200);
}

/** The hidden CSRF field, for forms built in page modules. */
export const Csrf = ({ c }: { c: Context<StaffEnv> }) => csrfField(c);
