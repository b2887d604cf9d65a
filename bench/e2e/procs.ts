/**
 * The processes of `npm run bench`: a redis-server of its own, the gateway as `npm start` runs it
 * (`node dist/src/runtime/node.js`), and CPU/memory readings of any process from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/ports.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLK_TCK = 100; // USER_HZ on Linux (getconf CLK_TCK)

/** utime + stime of a process, in ms of CPU (Linux /proc/<pid>/stat). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // fields 14 utime, 15 stime
}

/** Resident set size of a process, bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export interface BenchRedis {
  url: string;
  pid: number;
  admin: Redis;
  stop(): Promise<void>;
}

/** redis-server on a free port with a temp dir: AOF on, appendfsync everysec, no RDB snapshots (as `npm start`'s own). */
export async function startRedis(fsync = 'everysec'): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'lg-bench-redis-'));
  const port = await freePort();
  // prettier-ignore
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes',
    '--appendfsync', fsync, '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--loglevel', 'warning'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => (n > 100 ? null : 50) });
  admin.on('error', () => {});
  await admin.ping();
  return {
    url,
    pid: proc.pid!,
    admin,
    async stop() {
      admin.disconnect();
      if (proc.exitCode === null) {
        await new Promise<void>((r) => {
          proc.once('exit', () => r());
          proc.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCount {
  commands: number;
  pipelined: number;
  pipelines: number;
  /** commands sent alone (a round trip each), by name */
  alone: Record<string, number>;
  heapUsed: number;
}

export interface GatewayProcess {
  pid: number;
  url: string;
  mqttUrl: string;
  /** commands and round trips the gateway sent so far (counted by count-redis.mjs inside it) */
  redisCount(): Promise<RedisCount>;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * `node dist/src/runtime/node.js` (what `npm start` execs) with `env`, plus count-redis.mjs preloaded (and `nodeArgs`,
 * e.g. --cpu-prof). Its log lines
 * go to `logFile`; resolves once it printed its banner (`locker-gateway is running`).
 */
export async function startGateway(env: Record<string, string>, logFile: string, nodeArgs: string[] = []): Promise<GatewayProcess> {
  const proc: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, '--import', join(ROOT, 'bench/e2e/count-redis.mjs'), join(ROOT, 'dist/src/runtime/node.js')],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  const log = createWriteStream(logFile);
  proc.stdout!.pipe(log);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let tail = '';
  const banner = await new Promise<{ url: string; mqtt: string }>((resolve, reject) => {
    const rl = createInterface({ input: proc.stderr! });
    rl.on('line', (line) => {
      log.write(`${line}\n`);
      tail = `${tail.slice(-4000)}${line}\n`;
      if (!line.includes('locker-gateway is running')) return;
      try {
        const l = JSON.parse(line) as { url: string; mqtt: string };
        resolve({ url: l.url.replace(/\/$/, ''), mqtt: l.mqtt });
      } catch {
        /* not JSON */
      }
    });
    void exited.then((code) => reject(new Error(`the gateway exited (${code}) during start-up:\n${tail}`)));
  });
  const waiters: ((c: RedisCount) => void)[] = [];
  proc.on('message', (m: { t: string } & RedisCount) => {
    if (m.t === 'redis-count') waiters.shift()?.(m);
  });
  return {
    pid: proc.pid!,
    url: banner.url,
    mqttUrl: banner.mqtt,
    exited,
    redisCount: () =>
      new Promise<RedisCount>((resolve) => {
        waiters.push(resolve);
        proc.send({ t: 'redis-count' });
      }),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
      log.end();
    },
  };
}

/** A child process running a TypeScript module of the bench (through tsx), with an IPC channel. */
export function spawnTs(module: string, args: string[] = []): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, module), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The gateway's warning and error lines in its log, counted by message (most frequent first). */
export function logWarnings(logFile: string, top = 5): { level: string; msg: string; count: number }[] {
  if (!existsSync(logFile)) return [];
  const counts = new Map<string, number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as { level?: string; msg?: string };
      if (l.level !== 'warn' && l.level !== 'error' && l.level !== 'fatal') continue;
      if (/^(locker-gateway is stopping|claims: no DUTY_PHONES)/.test(l.msg ?? '')) continue; // expected
      const key = `${l.level}\u0000${l.msg ?? ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      /* not a log line */
    }
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, count]) => ({ level: k.split('\u0000')[0]!, msg: k.split('\u0000')[1]!, count }));
}
