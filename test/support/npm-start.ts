import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

/**
 * The gateway as a newcomer starts it: a shell command (`npm start` by default, or the README's line) in a process
 * of its own, with a minimal environment plus `env`. Its JSON log lines are parsed as they come, so a test waits for
 * the line it needs (an event), never for a fixed time.
 */
export class NpmStart {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly lines: LogLine[] = [];
  stderr = '';
  private waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  constructor(env: Record<string, string>, command = 'npm start') {
    // bash runs a single command by exec'ing it, so the process signalled is npm itself (as in a terminal)
    this.proc = spawn('bash', ['-c', command], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        if (!text.startsWith('{')) continue;
        try {
          this.onLine(JSON.parse(text) as LogLine);
        } catch {
          /* not a log line */
        }
      }
    });
    this.proc.stdout!.resume();
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }

  private onLine(l: LogLine): void {
    this.lines.push(l);
    for (const w of [...this.waiters]) {
      if (w.test(l)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  }

  /** The first log line (already seen or still to come) for which `test` holds; fails if the process exits first. */
  line(test: (l: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return Promise.race([
      new Promise<LogLine>((resolve) => this.waiters.push({ test, resolve })),
      this.exited.then((code) => {
        throw new Error(`the gateway exited (${code}) before the log line we wait for:\n${this.stderr.slice(-3000)}`);
      }),
    ]);
  }

  /** The start-up banner: `locker-gateway is running: open http://…/`. */
  ready(): Promise<LogLine & { url: string }> {
    return this.line((l) => l.msg.startsWith('locker-gateway is running')) as Promise<LogLine & { url: string }>;
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return this.exited;
  }
}
