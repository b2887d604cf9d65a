import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError } from '../config/config.js';
import type { Logger } from '../log.js';

/**
 * `npm start` without REDIS_URL: a redis-server of the gateway's own, from the PATH, on a free port of 127.0.0.1
 * (a Redis already on 6379 is left alone), with its data in REDIS_DATA_DIR (./data/redis): AOF on (fsync every
 * second), `maxmemory-policy noeviction` (the gateway's state must never be evicted). The data stays across
 * restarts; the server is stopped (SIGTERM: final fsync, then exit) when the gateway stops.
 *
 * A lock file in the data directory keeps two gateways off one directory. A redis-server left behind by a gateway
 * that was killed (SIGKILL gives it no chance to stop its child) is stopped before a new one starts on the data.
 */
export interface OwnRedis {
  url: string;
  port: number;
  dir: string;
  pid: number;
  /** called if the server exits while the gateway runs (the gateway cannot go on without it) */
  onUnexpectedExit(fn: (why: string) => void): void;
  stop(): Promise<void>;
}

export interface OwnRedisOptions {
  dataDir: string;
  bin?: string;
  host?: string;
  logger: Logger;
}

const LOCK = 'locker-gateway.lock';
type Lock = { gatewayPid: number; redisPid?: number; port?: number };

export async function startOwnRedis(opts: OwnRedisOptions): Promise<OwnRedis> {
  const dir = resolve(opts.dataDir);
  const host = opts.host ?? '127.0.0.1';
  const bin = opts.bin ?? 'redis-server';
  const log = opts.logger.child({ component: 'redis-server' });
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`REDIS_DATA_DIR: cannot create ${dir} (${(err as Error).message})`);
  }
  const lockPath = resolve(dir, LOCK);
  await takeLock(lockPath, dir, log);

  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort(host);
      const started = await launch(bin, port, host, dir, log);
      if (started.ok) {
        const proc = started.proc;
        writeFileSync(lockPath, JSON.stringify({ gatewayPid: process.pid, redisPid: proc.pid, port } satisfies Lock));
        return running(proc, started.quiet, port, host, dir, lockPath, log);
      }
      // Someone took the port between our check and redis binding it: try another one.
      if (started.portTaken && attempt < 5) continue;
      throw new Error(`${bin} did not start on ${host}:${port}: ${started.why}`);
    }
  } catch (err) {
    rmSync(lockPath, { force: true });
    throw err;
  }
}

function running(proc: ChildProcess, quiet: () => void, port: number, host: string, dir: string, lockPath: string, log: Logger): OwnRedis {
  let stopping = false;
  const listeners: ((why: string) => void)[] = [];
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  proc.once('exit', (code, signal) => {
    if (stopping) return;
    const why = `redis-server (pid ${proc.pid}) exited unexpectedly (code ${code}, signal ${signal})`;
    log.error(why, { dir });
    rmSync(lockPath, { force: true });
    for (const fn of listeners) fn(why);
  });
  return {
    url: `redis://${host}:${port}`,
    port,
    dir,
    pid: proc.pid!,
    onUnexpectedExit: (fn) => listeners.push(fn),
    async stop() {
      if (stopping) return exited;
      stopping = true;
      quiet(); // its shutdown lines are expected now
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const force = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(force);
      }
      rmSync(lockPath, { force: true });
      log.info('redis-server stopped; its data stays', { dir });
    },
  };
}

type Launch = { ok: true; proc: ChildProcess; quiet: () => void } | { ok: false; portTaken: boolean; why: string; notFound?: boolean };

function launch(bin: string, port: number, host: string, dir: string, log: Logger): Promise<Launch> {
  // prettier-ignore
  const args = ['--port', String(port), '--bind', host, '--dir', dir, '--daemonize', 'no',
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'yes', '--loglevel', 'notice', '--logfile', ''];
  return new Promise<Launch>((done) => {
    // A process group of its own: Ctrl-C in the terminal (or a signal to the whole group) must not stop Redis under
    // the gateway while it drains; the gateway stops it last.
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const last: string[] = [];
    let ready = false;
    let stopping = false;
    const onLine = (line: string) => {
      last.push(line);
      if (last.length > 20) last.shift();
      // Redis marks warnings with '#'; before it is ready they are start-up chatter (e.g. overcommit advice)
      if (ready && !stopping && / # /.test(line)) log.warn(line);
      else log.debug(line);
      if (!ready && /ready to accept connections/i.test(line)) {
        ready = true;
        done({ ok: true, proc, quiet: () => (stopping = true) });
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    proc.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        done({ ok: false, portTaken: false, why: 'not found', notFound: true });
        return;
      }
      done({ ok: false, portTaken: false, why: err.message });
    });
    proc.once('exit', (code) => {
      if (ready) return;
      const text = last.join('\n');
      done({ ok: false, portTaken: /address already in use/i.test(text), why: `exited with code ${code}: ${last.slice(-3).join(' | ')}` });
    });
  }).then((res) => {
    if (!res.ok && res.notFound) {
      throw new ConfigError(
        `REDIS_URL: not set, so the gateway starts a redis-server of its own, but "${bin}" is not on the PATH. ` +
          'Install it (Debian: apt-get install redis-server), or set REDIS_URL to a running Redis.',
      );
    }
    return res;
  });
}

async function takeLock(lockPath: string, dir: string, log: Logger): Promise<void> {
  if (existsSync(lockPath)) {
    let lock: Lock | null = null;
    try {
      lock = JSON.parse(readFileSync(lockPath, 'utf8')) as Lock;
    } catch {
      lock = null;
    }
    if (lock && lock.gatewayPid !== process.pid && alive(lock.gatewayPid)) {
      throw new ConfigError(
        `REDIS_DATA_DIR: ${dir} is in use by another locker-gateway (pid ${lock.gatewayPid}, its redis-server on port ${lock.port ?? '?'}). ` +
          'Stop it, or give this one REDIS_DATA_DIR of its own or REDIS_URL.',
      );
    }
    if (lock?.redisPid && alive(lock.redisPid) && isRedisServer(lock.redisPid)) {
      log.warn('stopping the redis-server a killed gateway left running on this data', { pid: lock.redisPid, dir });
      process.kill(lock.redisPid, 'SIGTERM');
      const deadline = Date.now() + 20_000;
      while (alive(lock.redisPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(lockPath, { force: true });
  }
  try {
    writeFileSync(lockPath, JSON.stringify({ gatewayPid: process.pid } satisfies Lock), { flag: 'wx' });
  } catch {
    throw new ConfigError(`REDIS_DATA_DIR: ${dir} is being taken by another locker-gateway starting at the same time`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isRedisServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/**
 * The URL of the redis-server a running gateway started in `dataDir` (from its lock file), for tools such as the
 * staff CLI when REDIS_URL is not set; null when no gateway runs one there.
 */
export function runningOwnRedisUrl(dataDir: string, host = '127.0.0.1'): string | null {
  try {
    const lock = JSON.parse(readFileSync(resolve(dataDir, LOCK), 'utf8')) as Lock;
    return lock.port && lock.redisPid && alive(lock.redisPid) ? `redis://${host}:${lock.port}` : null;
  } catch {
    return null;
  }
}
