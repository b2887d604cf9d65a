/**
 * Staff members from the command line (the first admin is made here):
 *
 *   npm run staff -- add --name NAME [--role staff|admin]     password from standard input
 *   npm run staff -- list
 *   npm run staff -- disable --name NAME | enable --name NAME
 *   npm run staff -- reset --name NAME                        new password from standard input
 *   npm run staff -- role --name NAME --role staff|admin
 *   npm run staff -- token --name NAME [--label TEXT]         prints a new API token (lgs_…) once
 *   npm run staff -- tokens [--name NAME]
 *   npm run staff -- revoke-token --id t_…
 *
 * Connects with REDIS_URL and REDIS_PREFIX (as the gateway). The password is read from standard input: typed at
 * the prompt, or piped (`printf '%s\n' "$PW" | npm run staff -- add …`); only its first line counts.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ConfigSchema } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { StaffError } from '../src/staff/errors.js';
import { StaffService } from '../src/staff/service.js';
import { STAFF_ROLES, type StaffMember, type StaffRole } from '../src/staff/types.js';
import { StaffStore } from '../src/store/staff.js';

const USAGE = `usage: npm run staff -- <command> [options]
  add --name NAME [--role staff|admin]   (password from standard input)
  list
  disable --name NAME | enable --name NAME
  reset --name NAME                      (new password from standard input)
  role --name NAME --role staff|admin
  token --name NAME [--label TEXT]       (prints the token once)
  tokens [--name NAME]
  revoke-token --id TOKEN_ID`;

class UsageError extends Error {}

async function readPassword(prompt: string): Promise<string> {
  if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await new Promise<string>((resolve) => rl.question(prompt, resolve));
    } finally {
      rl.close();
    }
  }
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.split(/\r?\n/)[0] ?? '';
}

const row = (m: StaffMember) =>
  [m.id, m.name.padEnd(16), m.role.padEnd(5), m.active ? 'active  ' : 'disabled', new Date(m.createdAt).toISOString()].join('  ');

async function run(argv: string[], staff: StaffService): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { name: { type: 'string' }, role: { type: 'string' }, label: { type: 'string' }, id: { type: 'string' } },
    strict: true,
  });
  const role = (): StaffRole => {
    const r = values.role ?? 'staff';
    if (!(STAFF_ROLES as readonly string[]).includes(r)) throw new UsageError(`--role ${r}: must be staff or admin`);
    return r as StaffRole;
  };
  const member = async (): Promise<StaffMember> => {
    if (!values.name) throw new UsageError(`${command}: --name NAME is required`);
    const m = await staff.byName(values.name);
    if (!m) throw new StaffError('not_found', `no staff member named ${values.name}`);
    return m;
  };
  switch (command) {
    case 'add': {
      if (!values.name) throw new UsageError('add: --name NAME is required');
      const r = role();
      const m = await staff.add({ name: values.name, role: r, password: await readPassword(`password for ${values.name}: `) });
      console.log(`added ${m.name} (${m.role}) ${m.id}`);
      return;
    }
    case 'list':
      for (const m of await staff.list()) console.log(row(m));
      return;
    case 'disable':
    case 'enable': {
      const m = await staff.setActive((await member()).id, command === 'enable');
      console.log(`${m.name} is ${m.active ? 'enabled' : 'disabled'}`);
      return;
    }
    case 'reset': {
      const m = await member();
      await staff.resetPassword(m.id, await readPassword(`new password for ${m.name}: `));
      console.log(`password of ${m.name} reset; their sessions ended`);
      return;
    }
    case 'role': {
      if (!values.role) throw new UsageError('role: --role staff|admin is required');
      const m = await staff.setRole((await member()).id, role());
      console.log(`${m.name} is ${m.role}`);
      return;
    }
    case 'token': {
      const m = await member();
      const { token, record } = await staff.issueToken(m.id, values.label ?? 'script');
      console.error(`API token ${record.id} for ${m.name} (shown once; revoke with: npm run staff -- revoke-token --id ${record.id})`);
      console.log(token);
      return;
    }
    case 'tokens': {
      const of = values.name ? (await member()).id : undefined;
      for (const t of await staff.tokens(of)) {
        console.log([t.id, t.memberId, t.label.padEnd(12), t.revokedAt ? 'revoked' : 'active ', new Date(t.createdAt).toISOString()].join('  '));
      }
      return;
    }
    case 'revoke-token': {
      if (!values.id) throw new UsageError('revoke-token: --id TOKEN_ID is required');
      const t = await staff.revokeToken(values.id);
      console.log(`token ${t.id} revoked`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'a command is required');
  }
}

async function main(): Promise<number> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.pick({ REDIS_URL: true, REDIS_PREFIX: true, LOCKOUT_ATTEMPTS: true, LOCKOUT_WINDOW_MS: true, LOCKOUT_MS: true, STAFF_SESSION_HOURS: true }).safeParse(env);
  if (!parsed.success) {
    console.error(`staff: invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return 2;
  }
  const cfg = parsed.data;
  const redis = new Redis(cfg.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    console.error(`staff: REDIS_URL: cannot reach Redis at ${cfg.REDIS_URL} (${(err as Error).message})`);
    return 2;
  }
  const staff = new StaffService({
    store: new StaffStore(redis, cfg.REDIS_PREFIX),
    policy: { sessionMs: cfg.STAFF_SESSION_HOURS * 3600_000, lockout: { max: cfg.LOCKOUT_ATTEMPTS, windowMs: cfg.LOCKOUT_WINDOW_MS, lockMs: cfg.LOCKOUT_MS } },
    logger: createLogger('warn'),
  });
  try {
    await run(process.argv.slice(2), staff);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`staff: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof StaffError) {
      console.error(`staff: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await redis.quit();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('staff: failed:', err);
    process.exit(1);
  },
);
