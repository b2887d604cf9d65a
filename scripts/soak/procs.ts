/**
 * The real processes a soak kills and restarts: redis-server (AOF), Mosquitto (the operator's config from
 * writeMosquittoConfig) and the gateway (`node dist/src/runtime/node.js`, as `npm start` runs it). Each keeps its
 * port and data directory across restarts, so a restart is the same server coming back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../../src/config/credentials.js';
import type { UnitProfile } from '../../src/domain/model.js';
import { writeMosquittoConfig } from '../../src/broker/mosquitto.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free TCP port of 127.0.0.1 (never 1883: the machine's own Mosquitto may want it). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port !== 1883) return port;
  }
}

async function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** One child process that can be SIGKILLed and started again with the same command line. */
abstract class Killable {
  protected proc: ChildProcess | null = null;
  output = '';
  starts = 0;
  kills = 0;
  /** exits nobody asked for (neither kill() nor stop()) */
  exitedByItself = 0;
  onUnexpectedExit: (() => void) | null = null;
  /** every line of its output goes here too, when set */
  logFile: string | null = null;

  protected abstract command(): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv; cwd?: string };
  protected abstract ready(proc: ChildProcess): Promise<boolean>;
  abstract readonly name: string;

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const { cmd, args, env, cwd } = this.command();
    this.starts++;
    const proc = spawn(cmd, args, { env: env ?? process.env, ...(cwd ? { cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20_000);
      if (this.logFile) appendFileSync(this.logFile, b);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let starting = true;
    proc.once('exit', () => {
      if (this.proc !== proc || starting) return;
      this.proc = null;
      this.exitedByItself++;
      this.onUnexpectedExit?.();
    });
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`${this.name} exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${this.output.slice(-3000)}`);
      }
      if (await this.ready(proc)) {
        starting = false;
        if (proc.exitCode === null && proc.signalCode === null) return;
      }
      if (Date.now() > end) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await sleep(100);
    }
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    this.kills++;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM (SIGKILL after 10 s), for the end of the run. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.kill('SIGTERM');
    await gone;
    clearTimeout(t);
  }
}

export type Fsync = 'always' | 'everysec';

/** redis-server with AOF, on a fixed port and directory (a restart replays the AOF). */
export class RedisProc extends Killable {
  readonly name = 'redis-server';
  constructor(
    readonly port: number,
    readonly dir: string,
    readonly fsync: Fsync,
  ) {
    super();
    mkdirSync(dir, { recursive: true });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected command() {
    return {
      cmd: 'redis-server',
      args: ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', this.fsync,
        '--save', '', '--daemonize', 'no', '--loglevel', 'warning', '--maxmemory-policy', 'noeviction'],
    };
  }

  protected async ready(): Promise<boolean> {
    // listening is not enough: redis answers LOADING while it replays the AOF
    return new Promise<boolean>((resolve) => {
      const s = connect(this.port, '127.0.0.1');
      let got = '';
      s.once('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => {
        got += d.toString();
        if (got.includes('\r\n')) {
          s.destroy();
          resolve(got.startsWith('+PONG'));
        }
      });
      s.once('error', () => resolve(false));
      setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 2000).unref();
    });
  }
}

/** Mosquitto with the operator's configuration (ACL, passwords; `persistence false` as shipped). */
export class MosquittoProc extends Killable {
  readonly name = 'mosquitto';
  private readonly confPath: string;

  constructor(
    readonly port: number,
    dir: string,
    credentials: Credentials,
    units: readonly UnitProfile[],
  ) {
    super();
    mkdirSync(dir, { recursive: true });
    this.confPath = writeMosquittoConfig({ dir, port, host: '127.0.0.1', credentials, units, runAsUser: userInfo().username }).confPath;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  protected command() {
    return { cmd: 'mosquitto', args: ['-c', this.confPath] };
  }

  protected ready(): Promise<boolean> {
    return listening(this.port);
  }
}

/** The gateway, as `npm start` runs it once built: node dist/src/runtime/node.js, with the soak's environment. */
export class GatewayProc extends Killable {
  readonly name = 'gateway';
  constructor(
    readonly root: string,
    readonly env: Record<string, string>,
  ) {
    super();
  }

  get url(): string {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  protected command() {
    return { cmd: process.execPath, args: [join(this.root, 'dist/src/runtime/node.js')], env: this.env, cwd: this.root };
  }

  protected async ready(): Promise<boolean> {
    const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    await res?.body?.cancel().catch(() => {});
    return res?.status === 200;
  }
}
