import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NpmStart, ROOT } from '../support/npm-start.js';
import { freePort } from '../support/ports.js';

/**
 * The README's "Try it" section, run as a reader would: its first shell block starts the gateway (`npm start`, on
 * free ports, with a Redis of its own in a temp dir), the other blocks are pasted, in order, into one bash in a
 * second "terminal" (GW pointing at the gateway). Any failing command fails the test, so the README cannot drift
 * from the code.
 */
function walkthrough(): { start: string; blocks: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf('\n## Try it');
  const to = readme.indexOf('\n## ', from + 1);
  expect(from).toBeGreaterThan(-1);
  const section = readme.slice(from, to);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const [start, ...rest] = blocks;
  return { start: start!.replace(/#.*$/gm, '').trim(), blocks: rest };
}

function bash(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-e', '-o', 'pipefail'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    p.once('exit', (code) => resolve({ code, output }));
    p.stdin.end(script);
  });
}

describe('README walkthrough', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lg-readme-'));
  let gateway: NpmStart | null = null;
  afterAll(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every block of "Try it" runs as pasted, from deposit to collection', async () => {
    const { start, blocks } = walkthrough();
    expect(start).toBe('SIM_AUTOPILOT=off npm start');
    expect(blocks.length).toBeGreaterThanOrEqual(3);

    gateway = new NpmStart({ PORT: String(await freePort()), MQTT_PORT: String(await freePort()), REDIS_DATA_DIR: dir }, start);
    const banner = await gateway.ready();
    expect(banner.autopilot).toBe(false);
    const GW = banner.url.replace(/\/$/, '');

    const run = await bash(blocks.join('\n'), { GW });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/取件码 \d{6}/); // the resident's text, read from their phone
    expect(run.output).toMatch(/"result": "done"/); // the remote pickup opened the door
    expect(run.output).toMatch(/parcel p_\w+: collected/);
    expect(await gateway.stop()).toBe(0);
  }, 150_000);
});
