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
    expect(r.nothingLost).toMatchObject({ ok: true, lost: 0, smsDuplicates: 0, smsMissing: 0, errors: 0 });
    expect(r.nothingLost.collected).toBeGreaterThan(0);
    expect(r.window.lifecycles).toBeGreaterThan(0);
    expect(r.latency.codeToOpen.map((u) => u.dialect)).toEqual(['json-v1', 'compact-v2', 'frame-485']);
    expect(r.latency.codeToOpen.every((u) => u.floor !== null && u.floor.n > 0)).toBe(true);
    expect(r.memory?.storedParcels).toBeGreaterThan(0);
    expect(files.some((f) => f.endsWith('.svg') && readFileSync(join(out, f), 'utf8').startsWith('<svg'))).toBe(true);
    expect(stdout).toContain('| **lifecycles/s** |');
  }, 120_000);
});
