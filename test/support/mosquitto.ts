import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../../src/config/credentials.js';
import type { UnitProfile } from '../../src/domain/model.js';
import { writeMosquittoConfig } from '../../src/broker/mosquitto.js';
import { freePort } from './ports.js';

/**
 * A real Mosquitto of the test's own, configured by writeMosquittoConfig (the operator's config generator) in a
 * temp dir, on a free port of 127.0.0.1. Never the machine's own Mosquitto on 1883.
 */
export class TestMosquitto {
  port = 0;
  dir = '';
  private proc: ChildProcess | null = null;
  private output = '';

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** the broker's process id (the bench reads its CPU from /proc) */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(opts: { credentials: Credentials; units: readonly UnitProfile[] }): Promise<this> {
    if (this.proc) throw new Error('TestMosquitto already started');
    this.dir = mkdtempSync(join(tmpdir(), 'lg-mosquitto-'));
    do this.port = await freePort();
    while (this.port === 1883);
    const { confPath } = writeMosquittoConfig({
      dir: this.dir,
      port: this.port,
      host: '127.0.0.1',
      credentials: opts.credentials,
      units: opts.units,
      // Started as root, Mosquitto would drop to user `mosquitto`, which cannot read our 0700 temp dir.
      runAsUser: userInfo().username,
    });
    this.output = '';
    const proc = spawn('mosquitto', ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    try {
      await this.waitUntilListening(proc);
    } catch (e) {
      await this.stop();
      throw e;
    }
    return this;
  }

  private async waitUntilListening(proc: ChildProcess): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`mosquitto exited (${proc.exitCode ?? proc.signalCode}) on port ${this.port}:\n${this.output}`);
      }
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(this.port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.url}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** What Mosquitto logged so far (last 4 kB), for assertion messages. */
  log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        proc.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        proc.kill('SIGTERM');
      });
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }
}
