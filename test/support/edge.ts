import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './ports.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * The Worker in workerd: `wrangler dev` as a child process on a free port, offline (local mode is the default; no
 * metrics, no Request.cf fetch, no API token), with the given bindings as --var. Resolves once wrangler says Ready.
 */
export class EdgeWorker {
  url = '';
  output = '';
  private child: ChildProcess | null = null;

  async start(vars: Record<string, string>): Promise<this> {
    const port = await freePort();
    const env: Record<string, string | undefined> = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: '1' };
    delete env.CLOUDFLARE_API_TOKEN;
    delete env.CLOUDFLARE_ACCOUNT_ID;
    const args = ['wrangler', 'dev', '--local', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--show-interactive-dev-session=false'];
    for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
    const child = spawn('npx', args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer) => {
        this.output += b.toString();
        if (/Ready on http/.test(this.output)) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`wrangler dev exited (${code}):\n${this.output}`)));
    });
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    process.kill(-c.pid!, 'SIGTERM');
    await exited;
  }
}

/** Builds the edge bundle (wrangler deploy --dry-run) into `outdir`. */
export function buildEdge(outdir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, WRANGLER_SEND_METRICS: 'false' };
    delete env.CLOUDFLARE_API_TOKEN;
    const c = spawn('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outdir], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrangler deploy --dry-run failed (${code}):\n${out}`))));
  });
}
