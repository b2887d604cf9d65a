/**
 * Bar charts as SVG, drawn on the server (no script, nothing from another host): this month's bars beside the
 * previous month's, a title and a description for screen readers, and the same numbers as a table below.
 */

export interface BarChartProps {
  id: string;
  title: string;
  desc: string;
  /** one label per group (day of month, bucket) */
  labels: string[];
  current: number[];
  previous: number[];
  currentName: string;
  previousName: string;
  /** shorter labels for the axis (default: labels) */
  axisLabels?: string[];
  /** what a group is (the table's first column) */
  labelName: string;
  /** label every n-th group on the axis (1: all) */
  labelEvery?: number;
}

const W = 400;
const H = 200;
const PAD = { left: 30, right: 8, top: 12, bottom: 30 };

/** Round the top of the scale up to 1, 2 or 5 × 10^n, so the grid lines fall on plain numbers. */
export function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const fmt = (n: number) => String(Math.round(n * 100) / 100);

export function BarChart(p: BarChartProps) {
  const n = Math.max(p.labels.length, 1);
  const top = niceMax(Math.max(0, ...p.current, ...p.previous));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const group = plotW / n;
  const bar = Math.max(1, (group * 0.8) / 2);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  // whole numbers on the scale: counts are never halves
  const ticks = Number.isInteger(top / 2) ? [0, top / 2, top] : [0, top];
  const every = p.labelEvery ?? 1;
  const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return (
    <figure>
      <figcaption id={`${p.id}-cap`}>{p.title}</figcaption>
      <ul class="key">
        <li>
          <span class="cur"></span>
          {`${p.currentName}（共 ${total(p.current)} total）`}
        </li>
        <li>
          <span class="prev"></span>
          {`${p.previousName}（共 ${total(p.previous)} total）`}
        </li>
      </ul>
      <svg class="chart" id={p.id} viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-labelledby={`${p.id}-title ${p.id}-desc`} xmlns="http://www.w3.org/2000/svg">
        <title id={`${p.id}-title`}>{p.title}</title>
        <desc id={`${p.id}-desc`}>{p.desc}</desc>
        {ticks.map((t) => (
          <g>
            <line class="grid-line" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
            <text x={PAD.left - 4} y={y(t) + 4} text-anchor="end">
              {fmt(t)}
            </text>
          </g>
        ))}
        {p.labels.map((label, i) => {
          const x = PAD.left + i * group + group * 0.1;
          const cur = p.current[i] ?? 0;
          const prev = p.previous[i] ?? 0;
          return (
            <g>
              <rect class="bar-prev" x={x} y={y(prev)} width={bar} height={Math.max(0, y(0) - y(prev))} />
              <rect class="bar-cur" x={x + bar} y={y(cur)} width={bar} height={Math.max(0, y(0) - y(cur))} data-value={cur} />
              {i % every === 0 || i === n - 1 ? (
                <text x={x + bar} y={H - PAD.bottom + 16} text-anchor="middle">
                  {p.axisLabels?.[i] ?? label}
                </text>
              ) : (
                ''
              )}
            </g>
          );
        })}
        <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} />
      </svg>
      <details>
        <summary>数据表 The numbers as a table</summary>
        <div class="table-wrap" tabindex={0} role="region" aria-label={`${p.title}：数据表 table`}>
          <table>
            <caption>{p.title}</caption>
            <thead>
              <tr>
                <th scope="col">{p.labelName}</th>
                <th scope="col">{p.currentName}</th>
                <th scope="col">{p.previousName}</th>
              </tr>
            </thead>
            <tbody>
              {p.labels.map((label, i) => (
                <tr>
                  <th scope="row">{label}</th>
                  <td>{p.current[i] ?? 0}</td>
                  <td>{p.previous[i] ?? 0}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
