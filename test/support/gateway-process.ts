import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from './stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEBUG = process.env.TEST_LOG_LEVEL === 'debug';

/**
 * The gateway as `npm start` runs it (`node dist/src/runtime/node.js`, built by the tests' global set-up), with an
 * environment of the test's own: started until `/readyz` answers, SIGKILLed, or stopped with SIGTERM (SIGKILL after
 * 10 s). Its last 20 kB of output is kept for the failure message (printed live with TEST_LOG_LEVEL=debug).
 */
export class GatewayProcess {
  proc: ChildProcess | null = null;
  output = '';
  /** SIGKILLed by the test (and not started since) */
  dead = false;

  constructor(
    readonly name: string,
    readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  async start(): Promise<void> {
    const proc = spawn(process.execPath, ['dist/src/runtime/node.js'], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.dead = false;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20_000);
      if (DEBUG) process.stderr.write(`[${this.name}] ${b.toString()}`);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    await eventually(
      async () => {
        if (proc.exitCode !== null) throw new Error(`${this.name} exited with ${proc.exitCode}:\n${this.output}`);
        return (await fetch(`${this.url}/readyz`).catch(() => null))?.status === 200;
      },
      30_000,
      `${this.name} ready`,
    );
  }

  async kill(): Promise<void> {
    const proc = this.proc!;
    this.dead = true;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}
