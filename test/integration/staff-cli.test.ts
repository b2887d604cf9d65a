import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStaffCommand } from '../../src/staff/cli.js';
import { DEFAULT_SCRYPT } from '../../src/staff/passwords.js';
import { SignInWorld } from '../support/signin.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** `npm run staff -- …` as an operator runs it: its own process, the password piped to standard input. */
function staffCli(args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/staff.ts', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdin.end(stdin);
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run staff', () => {
  const w = new SignInWorld();
  let env: Record<string, string>;
  beforeAll(async () => {
    await w.start();
    env = { REDIS_URL: w.redis.url, REDIS_PREFIX: 'lg:' };
  });
  afterAll(() => w.stop());

  /** The same commands in this process (a process each costs seconds here): stdin is `stdin`. */
  const cli = async (args: string[], stdin = '') => {
    const io = { stdout: '', stderr: '' };
    const code = await runStaffCommand(args, w.gw.staff, {
      readPassword: async () => stdin.split(/\r?\n/)[0] ?? '',
      out: (l) => (io.stdout += `${l}\n`),
      err: (l) => (io.stderr += `${l}\n`),
    });
    return { code, ...io };
  };

  it('adds the first admin with the password piped to standard input; the admin can sign in', async () => {
    const add = await staffCli(['add', '--name', '张主任', '--role', 'admin'], env, 'a long first password\n');
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/^added 张主任 \(admin\) s_[0-9a-z]{26}\n$/);

    const stored = JSON.parse((await w.gw.redis.get(`lg:staff:${add.stdout.split(' ').at(-1)!.trim()}`))!);
    expect(stored.password).toMatchObject({ alg: 'scrypt', ...DEFAULT_SCRYPT, salt: expect.any(String), hash: expect.any(String) });
    expect(JSON.stringify(stored)).not.toContain('a long first password');

    const login = await w.request('POST', '/v1/staff/login', { json: { name: '张主任', password: 'a long first password' }, headers: w.client() });
    expect(login.status).toBe(200);
    expect(login.body.member).toMatchObject({ name: '张主任', role: 'admin' });

    const list = await cli(['list']);
    expect(list.stdout).toMatch(/张主任\s+admin\s+active/);
  });

  it('resets, disables and enables by name; issues a token once, lists and revokes it', async () => {
    expect((await cli(['add', '--name', 'li', '--role', 'staff'], 'first password 1')).code).toBe(0);
    expect((await cli(['reset', '--name', 'li'], 'second password 2\r\n')).code).toBe(0);
    expect((await w.request('POST', '/v1/staff/login', { json: { name: 'li', password: 'second password 2' }, headers: w.client() })).status).toBe(200);

    const issued = await cli(['token', '--name', 'li', '--label', 'backup']);
    expect(issued.code).toBe(0);
    const token = issued.stdout.trim();
    expect(token).toMatch(/^lgs_[A-Za-z0-9_-]{43}$/);
    const auth = { authorization: `Bearer ${token}` };
    expect((await w.request('GET', '/v1/staff/me', { headers: auth })).body.member.name).toBe('li');

    expect((await cli(['disable', '--name', 'li'])).stdout).toBe('li is disabled\n');
    expect((await w.request('GET', '/v1/staff/me', { headers: auth })).status).toBe(401);
    expect((await cli(['enable', '--name', 'li'])).code).toBe(0);
    expect((await w.request('GET', '/v1/staff/me', { headers: auth })).status).toBe(200);

    const tokens = await cli(['tokens', '--name', 'li']);
    const id = /^(t_[0-9a-z]{26})\s/.exec(tokens.stdout)![1]!;
    expect(tokens.stdout).toMatch(/backup\s+active/);
    expect(tokens.stdout).not.toContain(token);
    expect((await cli(['revoke-token', '--id', id])).code).toBe(0);
    expect((await w.request('GET', '/v1/staff/me', { headers: auth })).status).toBe(401);
  });

  it('refuses bad input and says why', async () => {
    const short = await cli(['add', '--name', 'wang'], 'short\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/password: at least 10 characters/);
    const taken = await cli(['add', '--name', 'LI'], 'another password\n');
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/exists already/);
    const usage = await cli(['frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown command frobnicate/);
    const noRedis = await staffCli(['list'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(noRedis.code).toBe(2);
    expect(noRedis.stderr).toMatch(/REDIS_URL: cannot reach Redis/);
  });
});
