/**
 * The short soak (`npm run soak`, docs/reliability.md) as part of the suite: a few dozen parcel lifecycles while
 * every kind of fault is injected at least once (real redis-server and Mosquitto SIGKILLed, the gateway process
 * SIGKILLed, units dropping off, QoS 1 duplicates, lost and noisy frame-485 frames, jammed doors, a receiver that
 * fails, times out or is slow). The soak runs as its own process, as an operator runs it (compiled by the suite's
 * global setup), and its JSON report is read back: every invariant holds and every figure is what it must be.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FAULT_KINDS } from '../../scripts/soak/faults.js';
import type { SoakReport } from '../../scripts/soak/report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lg-soak-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function soak(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['dist/scripts/soak/main.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    proc.once('exit', (code) => resolve({ code, output }));
  });
}

describe('short soak', () => {
  it('every fault kind at least once: nothing lost, nothing twice, the chain verifies', async () => {
    const out = join(dir, 'report');
    // 40 lifecycles, faults ten times as often as in a long run, each kind first within 40 s; more lifecycles if a
    // kind has not come up yet
    const { code, output } = await soak(['--lifecycles', '40', '--seed', '13', '--concurrency', '6', '--fault-scale', '0.1', '--first-within', '40', '--every-fault', '--settle', '240', '--out', out]);
    const report = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as SoakReport;
    const md = readFileSync(`${out}.md`, 'utf8');
    const why = `${output.slice(-4000)}\n${md}`;
    for (const kind of FAULT_KINDS) expect(report.faults[kind], `${kind} injected\n${why}`).toBeGreaterThan(0);
    expect(report.lifecycles.total, why).toBeGreaterThanOrEqual(40);
    expect(report.invariants, why).toEqual(Object.fromEntries(Object.keys(report.invariants).map((k) => [k, true])));
    expect(Object.keys(report.invariants), why).toHaveLength(6);
    expect(report.figures, why).toEqual({ parcelsLost: 0, duplicates: 0, doubleAssignments: 0, doorsOpenedTwice: 0, chainVerified: true });
    expect(report.findings.deposited, why).toBe(report.findings.collected + report.findings.stillInLocker);
    expect(report.findings.collected, why).toBeGreaterThan(0);
    expect(report.ok, why).toBe(true);
    expect(code, why).toBe(0);
    expect(md).toContain('# Soak report: all invariants hold');
  }, 900_000);
});
