/**
 * `npm run verify`: walk every evidence chain in Redis and report, for each, the entries checked and the first broken
 * link. Exit code 0 when every chain verifies, 1 when one does not, 2 when it could not run (bad config, no Redis).
 * Reads the same settings as the gateway (REDIS_URL, or the running gateway's own redis-server, REDIS_PREFIX, CREDENTIALS_FILE / CREDENTIALS_JSON: the
 * checkpoints are signed with a key derived from the gateway's code key).
 */
import { Redis } from 'ioredis';
import { parseConfig } from '../src/config/config.js';
import { loadCredentials } from '../src/config/credentials.js';
import { systemClock } from '../src/domain/clock.js';
import { Evidence, EvidenceLog } from '../src/evidence/index.js';
import { silentLogger } from '../src/log.js';
import { runningOwnRedisUrl } from '../src/runtime/redis-server.js';

async function main(): Promise<number> {
  const config = parseConfig(process.env);
  const credentials = loadCredentials({ file: config.credentialsFile, json: config.CREDENTIALS_JSON });
  if (!credentials.gateway.codeKeyHex) throw new Error('credentials.gateway.codeKeyHex: required (checkpoints are signed with a key derived from it)');
  const codeKey = Buffer.from(credentials.gateway.codeKeyHex, 'hex');
  // Without REDIS_URL, the redis-server a running gateway started for itself (npm start without REDIS_URL).
  const url = config.REDIS_URL ?? runningOwnRedisUrl(config.REDIS_DATA_DIR);
  if (!url) {
    console.error(`verify: REDIS_URL: not set, and no gateway runs a redis-server of its own in ${config.REDIS_DATA_DIR}: start the gateway or set REDIS_URL`);
    return 2;
  }
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    const log = new EvidenceLog(redis, config.REDIS_PREFIX);
    const evidence = new Evidence(log, {
      redis,
      prefix: config.REDIS_PREFIX,
      secret: codeKey,
      clock: systemClock,
      logger: silentLogger,
      retentionDays: config.EVIDENCE_RETENTION_DAYS,
    });
    const reports = await evidence.verifier.verifyAll();
    if (!reports.length) console.log('no evidence chains yet');
    for (const r of reports) {
      const cp = r.checkpoint ? `, newest checkpoint n=${r.checkpoint.n} at ${new Date(r.checkpoint.at).toISOString()}` : '';
      if (r.ok) console.log(`ok      ${r.chain}: ${r.checked} entries checked (n=${r.from}..${r.to}${cp})`);
      else {
        const b = r.broken!;
        console.log(`BROKEN  ${r.chain}: ${b.problem} at n=${b.n}${b.entry ? ` (entry ${b.entry})` : ''} after ${r.checked} good entries${cp}`);
        console.log(`        expected ${b.expected}`);
        console.log(`        found    ${b.found}`);
      }
    }
    return reports.every((r) => r.ok) ? 0 : 1;
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`verify could not run: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
