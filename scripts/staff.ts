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
 * Connects with REDIS_URL and REDIS_PREFIX (as the gateway; without REDIS_URL, to the redis-server the running gateway
 * started in REDIS_DATA_DIR). The password is read from standard input: typed at
 * the prompt, or piped (`printf '%s\n' "$PW" | npm run staff -- add …`); only its first line counts.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { ConfigSchema } from '../src/config/config.js';
import { createLogger } from '../src/runtime/logger.js';
import { runningOwnRedisUrl } from '../src/runtime/redis-server.js';
import { runStaffCommand } from '../src/staff/cli.js';
import { StaffService } from '../src/staff/service.js';
import { StaffStore } from '../src/store/staff.js';

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

async function main(): Promise<number> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.pick({ REDIS_URL: true, REDIS_DATA_DIR: true, REDIS_PREFIX: true, LOCKOUT_ATTEMPTS: true, LOCKOUT_WINDOW_MS: true, LOCKOUT_MS: true, STAFF_SESSION_HOURS: true }).safeParse(env);
  if (!parsed.success) {
    console.error(`staff: invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return 2;
  }
  const cfg = parsed.data;
  // Without REDIS_URL, the redis-server a running gateway started for itself (npm start without REDIS_URL).
  const url = cfg.REDIS_URL ?? runningOwnRedisUrl(cfg.REDIS_DATA_DIR);
  if (!url) {
    console.error(`staff: REDIS_URL: not set, and no gateway runs a redis-server of its own in ${cfg.REDIS_DATA_DIR}: start the gateway or set REDIS_URL`);
    return 2;
  }
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    console.error(`staff: REDIS_URL: cannot reach Redis at ${url} (${(err as Error).message})`);
    return 2;
  }
  const staff = new StaffService({
    store: new StaffStore(redis, cfg.REDIS_PREFIX),
    policy: { sessionMs: cfg.STAFF_SESSION_HOURS * 3600_000, lockout: { max: cfg.LOCKOUT_ATTEMPTS, windowMs: cfg.LOCKOUT_WINDOW_MS, lockMs: cfg.LOCKOUT_MS } },
    logger: createLogger('warn'),
  });
  try {
    return await runStaffCommand(process.argv.slice(2), staff, { readPassword, out: (l) => console.log(l), err: (l) => console.error(l) });
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
