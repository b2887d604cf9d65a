/**
 * Where a CPU profile's time went: self time by package / area and the top functions.
 *
 *   npm run bench -- --cpu-prof --floor off          # writes the gateway's CPU.*.cpuprofile next to the results
 *   npx tsx bench/profile-summary.ts bench/results/CPU.….cpuprofile [--top 25]
 *
 * Areas: a node_modules package (bullmq, ioredis, aedes, mqtt, hono, zod, pino…), our code by folder (src/notify,
 * src/parcels, devices/json-v1…), node: internals, native frames by name (socket writes, GC), and the idle time (left
 * out of the shares).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
if (!positionals[0]) {
  console.error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top 25]');
  process.exit(2);
}
const p = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>(); // node id -> µs
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));

function area(n: Node): string {
  const { url, functionName } = n.callFrame;
  if (!url) return functionName === '(garbage collector)' ? 'GC' : functionName || '(program)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return 'node: internals';
  const ours = /\/dist\/((?:src|devices|simulators)\/[^/]+)/.exec(url);
  return ours ? ours[1]!.replace(/\.js$/, '') : url;
}

const areas = new Map<string, number>();
const fns = new Map<string, number>();
let total = 0;
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const a = area(n);
  if (a === '(idle)') continue;
  total += us;
  areas.set(a, (areas.get(a) ?? 0) + us);
  const { functionName, url, lineNumber } = n.callFrame;
  const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist)\//, '')}:${lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
}
const wall = (p.endTime - p.startTime) / 1e6;
console.log(`profile: ${wall.toFixed(1)} s, busy ${(total / 1e6).toFixed(1)} s (${((total / 1e6 / wall) * 100).toFixed(0)} % of the time)`);
console.log('\nself time by area (share of busy time):');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${a}`);
console.log(`\ntop ${values.top} functions by self time:`);
for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
