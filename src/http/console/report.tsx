import type { Context } from 'hono';
import { MONTH_RE, previousMonth, type Figure } from '../../claims/figures.js';
import type { MonthlyReport } from '../../claims/report.js';
import { RESOLVE_BUCKETS } from '../../claims/series.js';
import { localParts } from '../../notify/localtime.js';
import type { StaffEnv } from '../auth.js';
import { BarChart } from './charts.js';
import { claimsOf, OUTCOME_LABELS } from './claims.js';
import type { ConsoleDeps } from './deps.js';
import { ago, formatInZone } from './format.js';
import { page } from './layout.js';

type C = Context<StaffEnv>;

const nextMonth = (m: string) => {
  const [y, mo] = m.split('-').map(Number) as [number, number];
  return mo === 12 ? `${y + 1}-01` : `${y}-${String(mo + 1).padStart(2, '0')}`;
};

/** The per-day charts: id (chart-…), title, what is counted (for the description), and the series. */
const DAILY: readonly [string, string, string, 'claimsOpened' | 'collections' | 'deposits'][] = [
  ['claims', '每天的申报 Claims opened per day', '申报数 claims opened', 'claimsOpened'],
  ['collections', '每天的取件 Parcels collected per day', '取件数 collections', 'collections'],
  ['deposits', '每天的存件 Parcels stored per day', '存件数 deposits', 'deposits'],
];

type Kind = 'count' | 'share' | 'ms' | 'rating';
const show = (v: number | null, kind: Kind): string => {
  if (v === null) return '—';
  if (kind === 'share') return `${Math.round(v * 1000) / 10}%`;
  if (kind === 'ms') return v < 60_000 ? `${Math.round(v / 1000)} 秒 s` : ago(v);
  if (kind === 'rating') return (Math.round(v * 100) / 100).toString();
  return String(v);
};
const change = (f: Figure, kind: Kind): string => {
  if (f.change === null) return '—';
  if (f.change === 0) return '±0';
  const sign = f.change > 0 ? '+' : '−';
  const abs = Math.abs(f.change);
  return `${sign}${kind === 'share' ? `${Math.round(abs * 1000) / 10} 个百分点 pts` : show(abs, kind)}`;
};

function rows(r: MonthlyReport): [string, string, Figure, Kind][] {
  const c = r.claims;
  const l = r.lockers;
  return [
    ['claims-opened', '申报 Claims opened', c.opened, 'count'],
    ...Object.entries(c.byOutcome).map(([k, f]): [string, string, Figure, Kind] => [`claims-${k}`, `· ${k === 'unresolved' ? '未处理完 unresolved' : OUTCOME_LABELS[k as keyof typeof OUTCOME_LABELS]}`, f, 'count']),
    ['ack-median', '受理用时（中位数）Time to acknowledge, median', c.timeToAcknowledgeMs.median, 'ms'],
    ['ack-p90', '受理用时（90%）Time to acknowledge, 90th percentile', c.timeToAcknowledgeMs.p90, 'ms'],
    ['resolve-median', '处理用时（中位数）Time to resolve, median', c.timeToResolveMs.median, 'ms'],
    ['resolve-p90', '处理用时（90%）Time to resolve, 90th percentile', c.timeToResolveMs.p90, 'ms'],
    ['within-ack', '按时受理 Acknowledged within the clock', c.withinAckClock, 'share'],
    ['within-resolve', '按时处理 Resolved within the clock', c.withinResolveClock, 'share'],
    ['resolution-rate', '处理率 Resolution rate', c.resolutionRate, 'share'],
    ['rating', '平均评分 Average rating (1–5)', c.averageRating, 'rating'],
    ['ratings', '评分数 Ratings', c.ratings, 'count'],
    ['reopened', '重新打开 Reopened', c.reopened, 'count'],
    ['deposits', '存件 Parcels stored', l.deposits, 'count'],
    ['collections', '取件 Parcels collected', l.collections, 'count'],
    ['overdue', '超期 Overdue', l.overdue, 'count'],
    ['returns', '退回 Returned to couriers', l.returns, 'count'],
  ];
}

/** GET /console/reports?month=YYYY-MM (admins, as GET /v1/admin/reports/monthly): figures and charts beside the month before. */
export async function reportPage(c: C, d: ConsoleDeps): Promise<Response> {
  const claims = claimsOf(d);
  const now = d.clock.now();
  const here = localParts(now, d.timeZone);
  const thisMonth = `${here.year}-${String(here.month).padStart(2, '0')}`;
  const month = c.req.query('month') || thisMonth;
  if (!MONTH_RE.test(month)) {
    return page(c, d, { title: '月报 Monthly report', nav: 'report', status: 400, error: 'month: 请用 YYYY-MM 格式 use YYYY-MM, e.g. 2026-11' }, <MonthForm month={thisMonth} />);
  }
  const [r, charts] = await Promise.all([claims.reports.monthly(month), claims.reports.charts(month)]);
  const prev = previousMonth(month);
  const days = Math.max(charts.current.claimsOpened.length, charts.previous.claimsOpened.length);
  const dayLabels = Array.from({ length: days }, (_, i) => String(i + 1));
  const perDay = (what: string) => `${month} 与 ${prev} 每天的${what}，按日对比。Per day of ${month} beside ${prev}; the table below has every number.`;
  return page(
    c,
    d,
    { title: `月报 Monthly report ${month}`, nav: 'report' },
    <>
      <MonthForm month={month} />
      <p class="row">
        <a href={`/console/reports?month=${prev}`}>← {prev}</a>
        {month < thisMonth ? <a href={`/console/reports?month=${nextMonth(month)}`}>{nextMonth(month)} →</a> : ''}
      </p>
      <p class="muted">{`截至 as of ${formatInZone(r.asOf, d.timeZone)}（${r.timeZone}）`}</p>
      <section id="report-figures" data-live="claims">
        <h2>数字 Figures</h2>
        <div class="table-wrap" tabindex={0} role="region" aria-label="数字 Figures">
          <table class="figures">
            <caption>{`${month} 与上月 beside ${prev}`}</caption>
            <thead>
              <tr>
                <th scope="col">项目 Figure</th>
                <th scope="col">{month}</th>
                <th scope="col">{prev}</th>
                <th scope="col">
                  变化 <span class="wrap">Change</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows(r).map(([id, label, f, kind]) => (
                <tr id={`fig-${id}`}>
                  <th scope="row">{label}</th>
                  <td class="value" data-value={f.value ?? ''}>
                    {show(f.value, kind)}
                  </td>
                  <td class="previous">{show(f.previous, kind)}</td>
                  <td>{change(f, kind)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section id="report-charts" data-live="claims">
        <h2>图表 Charts</h2>
        {DAILY.map(([id, title, what, series]) => (
          <BarChart
            id={`chart-${id}`}
            title={title}
            desc={perDay(what)}
            labelName="日 Day"
            labels={dayLabels}
            current={charts.current[series]}
            previous={charts.previous[series]}
            currentName={month}
            previousName={prev}
            labelEvery={5}
          />
        ))}
        <BarChart
          id="chart-resolve"
          title="处理用时分布 Time to resolve"
          desc={`${month} 与 ${prev} 登记的申报中已处理的，按处理用时（不含等住户的时间）分组。Claims opened in each month and resolved so far, by time to resolve (waiting for the resident left out).`}
          labelName="用时 Time"
          labels={RESOLVE_BUCKETS.map((b) => `${b.zh} ${b.en}`)}
          axisLabels={RESOLVE_BUCKETS.map((b) => b.en.replace(/ /g, ''))}
          current={charts.current.resolveBuckets}
          previous={charts.previous.resolveBuckets}
          currentName={month}
          previousName={prev}
        />
      </section>
      <p class="muted">
        同样的数字（JSON）：<code class="wrap">{`/v1/admin/reports/monthly?month=${month}`}</code>
      </p>
    </>,
  );
}

function MonthForm({ month }: { month: string }) {
  return (
    <form method="get" action="/console/reports">
      <label for="month">月份 Month</label>
      <input type="month" id="month" name="month" value={month} required />
      <div class="actions">
        <button type="submit">查看 Show</button>
      </div>
    </form>
  );
}
