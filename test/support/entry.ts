import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface EntryProcess {
  proc: ChildProcess;
  /** the exit code (null when ended by a signal), once the process has exited */
  exited: Promise<number | null>;
  stderr(): string;
  /** resolves once stderr contains `text` (rejects if the process exits first) */
  waitFor(text: string | RegExp): Promise<void>;
}

/**
 * The real entry point, compiled (dist/src/runtime/node.js, what `npm start` execs; vitest's global setup builds it),
 * in a process of its own started directly with node, so signals reach the gateway itself. Only PATH and HOME are inherited; everything else comes from `env`.
 */
export function startEntry(env: Record<string, string>): EntryProcess {
  const proc = spawn(process.execPath, ['dist/src/runtime/node.js'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const waiters: { test: (s: string) => boolean; resolve: () => void }[] = [];
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.splice(0)) {
      if (w.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const waitFor = (text: string | RegExp) =>
    new Promise<void>((resolve, reject) => {
      const test = (s: string) => (typeof text === 'string' ? s.includes(text) : text.test(s));
      if (test(stderr)) return resolve();
      waiters.push({ test, resolve });
      void exited.then((code) => reject(new Error(`exited (${code}) before printing ${String(text)}; stderr:\n${stderr}`)));
    });
  return { proc, exited, stderr: () => stderr, waitFor };
}
