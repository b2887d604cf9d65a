/**
 * The soak's output: a one-line status on a terminal while it runs, and at the end a report in Markdown and JSON.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { Findings } from './check.js';
import { FAULT_TEXT, type FaultKind } from './faults.js';
import type { Outcome } from './ledger.js';

export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastPlain = 0;

  constructor(private readonly started = Date.now()) {}

  show(o: { done: number; total: number | null; running: number; faults: number; phase: string }): void {
    const s = Math.round((Date.now() - this.started) / 1000);
    const clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    const of = o.total ? `/${o.total}` : '';
    const frac = o.total ? Math.min(1, o.done / o.total) : (s % 20) / 20;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const line = `soak [${bar}] ${o.done}${of} lifecycles, ${o.running} under way, ${o.faults} faults, ${clock} ${o.phase}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (Date.now() - this.lastPlain > 30_000) {
      this.lastPlain = Date.now();
      process.stderr.write(`${line}\n`);
    }
  }

  /** A line of its own, without breaking the status line. */
  say(msg: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${msg}\n`);
    else process.stderr.write(`${msg}\n`);
  }

  end(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

export interface SoakReport {
  ok: boolean;
  seed: number;
  startedAt: string;
  minutes: number;
  settings: Record<string, unknown>;
  machine: { cpus: number; cpuModel: string; memoryGb: number; loadAtStart: number[]; loadAtEnd: number[]; node: string };
  lifecycles: { total: number; byOutcome: Partial<Record<Outcome, number>>; depositAttempts: number; openFailed: number; codesTyped: number };
  faults: Record<FaultKind, number>;
  receiver: { ok: number; fail: number; timeout: number; slow: number };
  processes: { gatewayStarts: number; gatewayExitedByItself: number; startFailures: string[] };
  figures: {
    parcelsLost: number;
    duplicates: number;
    doubleAssignments: number;
    doorsOpenedTwice: number;
    chainVerified: boolean;
  };
  invariants: Record<string, boolean>;
  findings: Findings;
  /** lifecycles that did not end collected, with what they went through */
  unfinished: unknown[];
  notes: string[];
}

export function machine(loadAtStart: number[]): SoakReport['machine'] {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    loadAtStart,
    loadAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
  };
}

const list = (xs: string[], max = 20) => (xs.length ? xs.slice(0, max).map((x) => `  - ${x}`).join('\n') + (xs.length > max ? `\n  - … ${xs.length - max} more` : '') : '');

export function markdown(r: SoakReport): string {
  const f = r.findings;
  const rows = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `| ${k} | ${String(v)} |`).join('\n');
  return `# Soak report: ${r.ok ? 'all invariants hold' : 'INVARIANTS BROKEN'}

Seed ${r.seed}, started ${r.startedAt}, ${r.minutes} min. Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB,
Node ${r.machine.node}; load average at start ${r.machine.loadAtStart.join(' / ')}, at the end ${r.machine.loadAtEnd.join(' / ')}.

## Figures

| figure | value |
|---|---|
| lifecycles | ${r.lifecycles.total} |
| parcels deposited / collected / still in a locker | ${f.deposited} / ${f.collected} / ${f.stillInLocker} |
| faults injected | ${Object.values(r.faults).reduce((a, b) => a + b, 0)} |
| parcels lost | ${r.figures.parcelsLost} |
| duplicates (notices delivered twice unexplained) | ${r.figures.duplicates} |
| double assignments | ${r.figures.doubleAssignments} |
| doors opened twice | ${r.figures.doorsOpenedTwice} |
| evidence chain verified | ${r.figures.chainVerified ? `yes (${f.chain.chains} chains, ${f.chain.entries} entries)` : 'NO'} |

## Invariants

${Object.entries(r.invariants).map(([k, ok]) => `- ${ok ? 'ok' : '**BROKEN**'}: ${k}`).join('\n')}

## Faults injected

| fault | count | what it does |
|---|---|---|
${Object.entries(r.faults).map(([k, n]) => `| ${k} | ${n} | ${FAULT_TEXT[k as FaultKind]} |`).join('\n')}

Receiver answers: ${Object.entries(r.receiver).map(([k, n]) => `${k} ${n}`).join(', ')}.
Gateway starts: ${r.processes.gatewayStarts}; exited by itself: ${r.processes.gatewayExitedByItself}; failed starts (retried): ${r.processes.startFailures.length}.

## Lifecycles

| outcome | count |
|---|---|
${rows(r.lifecycles.byOutcome)}

Deposit requests ${r.lifecycles.depositAttempts} (open_failed answers ${r.lifecycles.openFailed}), codes typed ${r.lifecycles.codesTyped},
old codes typed again after collection ${f.codeReplays}.

## Notices (by Idempotency-Key)

Expected ${f.notices.expected}, delivered ${f.notices.delivered}, lost ${f.notices.lost.length}, unexpected ${f.notices.unexpected.length},
re-issued codes ${f.notices.reissuedCodes}, staff alerts ${f.notices.staffAlerts}, repeats after an unanswered delivery or a kill (deduplicated by the key)
${f.notices.redeliveredExplained}, unexplained repeats ${f.notices.duplicates.length}.
${list(f.notices.lost)}
${list(f.notices.unexpected)}
${list(f.notices.duplicates)}

## Details

Parcels in Redis by state: ${JSON.stringify(f.parcels.byState)}.
${[
  ['parcels lost', f.parcelsLost],
  ['taken out but not recorded as collected', f.pickupsNotRecorded],
  ['occupied compartments nobody put a parcel in', f.unaccountedOccupied],
  ['stored parcels whose compartment is empty', f.phantomParcels],
  ['parcels left half-way', f.stuckTransient],
  ['double assignments', f.doubleAssignments],
  ['deposit doors opened twice', f.doorsOpenedTwice.deposit],
  ['doors opened twice for one code', f.doorsOpenedTwice.pickup],
  ['doors opened after collection', f.doorsOpenedTwice.afterCollection],
  ['openings outside any parcel flow (reported, not an invariant)', f.doorsOpenedTwice.unexplained],
  ['broken chains', f.chain.broken],
].map(([k, xs]) => `- ${k as string}: ${(xs as string[]).length}${(xs as string[]).length ? `\n${list(xs as string[])}` : ''}`).join('\n')}
${r.notes.length ? `\n## Notes\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}

export function writeReport(r: SoakReport, base: string): { md: string; json: string } {
  const md = `${base}.md`;
  const json = `${base}.json`;
  writeFileSync(md, markdown(r));
  writeFileSync(json, JSON.stringify(r, null, 2));
  return { md, json };
}
