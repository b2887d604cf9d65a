/**
 * The latency chart of `npm run bench`, drawn by code as SVG: code-to-open as a distribution (share of keypad
 * entries answered within x ms, x on a log scale), one solid line per unit (or per dialect when there are many
 * units) for the gateway and a dashed one for the floor; the y axis is a "nines" scale (p50, p90, p99, p99.9 evenly
 * apart) so the tail shows.
 */
const COLORS: Record<string, string> = { 'json-v1': '#1f77b4', 'compact-v2': '#d62728', 'frame-485': '#2ca02c' };
const EXTRA = ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export interface Series {
  label: string;
  dialect: string;
  floor: boolean;
  /** ms */
  values: number[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function cdfChart(title: string, series: Series[]): string {
  const W = 980;
  const H = 480;
  const L = 70;
  const R = 330;
  const T = 50;
  const B = 60;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.05, Math.min(...all, 1)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 10))));
  const x = (ms: number) => L + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - L - R);
  // "nines" scale: p50, p90, p99, p99.9 evenly apart, so the tail is as visible as the middle
  const q = (share: number) => Math.min(1, -Math.log10(Math.max(1 - share, 0.001)) / 3);
  const y = (share: number) => T + (1 - q(share)) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let d = lo; d <= hi; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi) break;
      out.push(`<line x1="${x(v)}" y1="${T}" x2="${x(v)}" y2="${H - B}" stroke="${m === 1 ? '#bbb' : '#eee'}"/>`);
      if (m === 1 || (m === 5 && hi / lo <= 1000)) out.push(`<text x="${x(v)}" y="${H - B + 16}" text-anchor="middle">${v >= 1 ? v : v.toFixed(2).replace(/0+$/, '')}</text>`);
    }
  }
  for (const [p, label] of [[0, '0'], [0.5, 'p50'], [0.9, 'p90'], [0.95, 'p95'], [0.99, 'p99'], [0.999, 'p99.9']] as const) {
    out.push(`<line x1="${L}" y1="${y(p)}" x2="${W - R}" y2="${y(p)}" stroke="${p === 0 || p === 0.999 ? '#bbb' : '#ddd'}"/>`);
    out.push(`<text x="${L - 6}" y="${y(p) + 4}" text-anchor="end">${label}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">code-to-open, ms (log scale): keypad message sent → open carried out by the unit</text>`);
  out.push(`<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">share of keypad entries answered within x</text>`);
  let extra = 0;
  const colorOf = new Map<string, string>();
  series.forEach((s, i) => {
    const key = s.label.replace(/ floor$/, '');
    let color = colorOf.get(key);
    if (!color) {
      color = colorOf.size < 3 && COLORS[s.dialect] && ![...colorOf.values()].includes(COLORS[s.dialect]!) ? COLORS[s.dialect]! : EXTRA[extra++ % EXTRA.length]!;
      colorOf.set(key, color);
    }
    const v = [...s.values].sort((a, b) => a - b);
    if (v.length) {
      const step = Math.max(1, Math.floor(v.length / 400));
      const pts: string[] = [`${x(v[0]!).toFixed(1)},${y(0).toFixed(1)}`];
      for (let j = 0; j < v.length; j += step) pts.push(`${x(v[j]!).toFixed(1)},${y((j + 1) / v.length).toFixed(1)}`);
      pts.push(`${x(v[v.length - 1]!).toFixed(1)},${y(1).toFixed(1)}`);
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" ${s.floor ? 'stroke-dasharray="6 4"' : ''} points="${pts.join(' ')}"/>`);
    }
    const ly = T + 10 + i * 20;
    out.push(`<line x1="${W - R + 14}" y1="${ly}" x2="${W - R + 44}" y2="${ly}" stroke="${color}" stroke-width="2" ${s.floor ? 'stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${W - R + 50}" y="${ly + 4}">${esc(s.label)} (n ${v.length})</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
