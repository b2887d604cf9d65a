/**
 * Sums self time per function, per file and per package from a V8 .cpuprofile (node --cpu-prof, or
 * bench/relay.ts --cpu-prof), top N. Percentages are of all samples and of the busy ones (idle left out).
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/lifecycle.ts --mode engine --notify off
 *   npx tsx bench/profile-top.ts /tmp/prof/CPU.*.cpuprofile [30]
 *   npx tsx bench/profile-top.ts FILE 15 --callers '^writeUtf8String$'   # who calls it (6 frames up)
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, nArg, flag, pattern] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top.ts FILE.cpuprofile [N] [--callers REGEX]');
const N = Number(nArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
const short = (u: string) => (u || '(native)').replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'nm/').replace(/^.*?\/(src|bench|devices|simulators|test)\//, '$1/');
const label = (n: Node) => `${n.callFrame.functionName || '(anon)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const line = (t: number, k: string) =>
  `${((100 * t) / total).toFixed(1).padStart(5)} %  ${((100 * t) / (total - idle)).toFixed(1).padStart(5)} % busy  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}`;

if (flag === '--callers') {
  const agg = new Map<string, number>();
  for (const [id, t] of self) {
    if (!new RegExp(pattern ?? '.').test(byId.get(id)!.callFrame.functionName)) continue;
    const chain: string[] = [];
    for (let cur = parent.get(id); cur !== undefined && chain.length < 6; cur = parent.get(cur)) chain.push(label(byId.get(cur)!));
    agg.set(chain.join(' < '), (agg.get(chain.join(' < ')) ?? 0) + t);
  }
  for (const [k, t] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log(line(t, k));
} else {
  const fn = new Map<string, number>();
  const fl = new Map<string, number>();
  const pkg = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, t: number) => m.set(k, (m.get(k) ?? 0) + t);
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const f = short(n.callFrame.url);
    add(fn, label(n), t);
    add(fl, f, t);
    const parts = f.split('/');
    add(pkg, f.startsWith('nm/') ? parts.slice(0, parts[1]?.startsWith('@') ? 3 : 2).join('/') : f.startsWith('node:') ? 'node:internal' : /^(src|devices)\//.test(f) ? parts.slice(0, 2).join('/') : f, t);
  }
  console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled, ${((100 * idle) / total).toFixed(1)} % idle`);
  for (const [title, m, n] of [['function', fn, N], ['file', fl, N], ['package or directory', pkg, 20]] as const) {
    console.log(`\n== self time by ${title}`);
    for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(line(t, k));
  }
}
