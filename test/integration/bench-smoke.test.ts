/**
 * `npm run bench` works end to end (tag: bench-smoke): a few seconds of whole lifecycles against the gateway
 * process, the floor, the report files; nothing lost. The figures themselves are not judged (benchmarks print
 * figures, tests do not time things).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Result } from '../../bench/e2e/report.js';
import { ROOT } from '../support/npm-start.js';

const out = mkdtempSync(join(tmpdir(), 'lg-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench-smoke: npm run bench', () => {
  it('runs lifecycles through the gateway process and the floor, writes Markdown, JSON and SVG, loses nothing', async () => {
    // prettier-ignore
    const args = ['--import', 'tsx', 'bench/run.ts', '--seconds', '3', '--warmup', '1', '--concurrency', '4',
      '--floor-seconds', '2', '--memory-parcels', '6', '--out', out];
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT, maxBuffer: 1 << 24 });
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('.json'))!;
    const r = JSON.parse(readFileSync(join(out, json), 'utf8')) as Result;
    expect(r.nothingLost).toMatchObject({ ok: true, lost: 0, smsDuplicates: 0, smsMissing: 0, errors: 0, notifyBacklog: { after: 0 } });
    expect(r.nothingLost.collected).toBeGreaterThan(0);
    expect(r.window.lifecycles).toBeGreaterThan(0);
    expect(r.latency.codeToOpen.map((u) => u.dialect)).toEqual(['json-v1', 'compact-v2', 'frame-485']);
    expect(r.latency.codeToOpen.every((u) => u.floor !== null && u.floor.n > 0)).toBe(true);
    expect(r.memory?.storedParcels).toBeGreaterThan(0);
    expect(files.some((f) => f.endsWith('.svg') && readFileSync(join(out, f), 'utf8').startsWith('<svg'))).toBe(true);
    expect(stdout).toContain('| **lifecycles/s** |');
  }, 120_000);

  /** A short bench of another shape, without the floor or the memory reading: its JSON result and its output. */
  async function shape(...extra: string[]): Promise<{ r: Result; stdout: string }> {
    const dir = mkdtempSync(join(out, 'shape-'));
    // prettier-ignore
    const args = ['--import', 'tsx', 'bench/run.ts', '--seconds', '3', '--warmup', '1', '--concurrency', '4',
      '--floor', 'off', '--memory-parcels', '0', ...extra, '--out', dir];
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT, maxBuffer: 1 << 24 });
    const r = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.json'))!), 'utf8')) as Result;
    expect(r.nothingLost).toMatchObject({ ok: true, lost: 0, smsDuplicates: 0, smsMissing: 0, errors: 0 });
    return { r, stdout };
  }

  it('--gateways 2 --workers-process: two gateways sharing the units by lease and a workers process, CPU by process', async () => {
    const { r, stdout } = await shape('--gateways', '2', '--workers-process');
    expect(r.shape.name).toMatch(/^2 gateways .* \+ workers$/);
    expect(r.window.processes.map((p) => p.name)).toEqual(['gw-1', 'gw-2', 'workers', 'mosquitto']);
    // the relay and the notification workers ran in the workers process: it used CPU
    expect(r.window.processes.find((p) => p.name === 'workers')!.cpuMsPerLifecycle).toBeGreaterThan(0);
    expect(stdout).toContain('| CPU by process (per lifecycle) |');
  }, 180_000);

  it('--broker mosquitto: one gateway against a Mosquitto of the bench\'s own, the broker\'s CPU apart', async () => {
    const { r, stdout } = await shape('--broker', 'mosquitto');
    expect(r.shape.name).toBe('one process (Mosquitto)');
    expect(r.window.processes.map((p) => p.name)).toEqual(['gateway', 'mosquitto']);
    expect(r.window.lifecycles).toBeGreaterThan(0);
    expect(stdout).toContain("MQTT_URL: a Mosquitto of the bench's own");
  }, 180_000);
});
