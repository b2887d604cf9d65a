import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Op } from '../store/tx.js';

/**
 * "N wrong attempts within a window lock for a while": codes at a keypad, remote pickups per phone and per client
 * address. Only wrong codes count toward the lock. So that parallel guesses cannot slip past the limit, an attempt is
 * admitted only while (wrong attempts in the window + attempts being checked) < N; past that it is told to wait a
 * moment ("busy"), never locked: a burst of right codes being checked at once can delay, but never lock, a keypad.
 *
 * KEYS: 1 wrong attempts (zset), 2 lock, 3 attempts being checked (zset; members older than 30 s are a crashed
 * checker's and dropped). ADMIT returns the lock's remaining ms, -1 for busy, 0 admitted. LIMIT_ADMIT_FN defines it as
 * the Lua function lg_limit_admit(KEYS, ARGV), for a script that reads more in the same step (the keypad's).
 */
export const LIMIT_ADMIT_FN = `
local function lg_limit_admit(KEYS, ARGV)
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return ttl end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 30000)
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('PEXPIRE', KEYS[3], 60000)
return 0
end
`;

const ADMIT = `${LIMIT_ADMIT_FN}
return lg_limit_admit(KEYS, ARGV)
`;

/** After a wrong code: count it, and lock at once when it is the Nth (returns the lock's length), else 0. */
const FAILED = `
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
end
return 0
`;

type WithLimits = Redis & {
  lgAdmit(k1: string, k2: string, k3: string, ...a: (string | number)[]): Promise<number>;
  lgFailed(k1: string, k2: string, k3: string, ...a: (string | number)[]): Promise<number>;
};

/** How long to wait for other checks to finish before a busy attempt gives up (they take milliseconds). */
const BUSY_WAIT_MS = 2_000;

export interface Attempt {
  /** the code was right: the attempt does not count */
  ok(): Promise<void>;
  /** ok() as writes, for the step the right code leads to (it is then no longer being checked) */
  okOps(): Op[];
  /** the code was wrong: returns when the lock ends if this attempt locked it */
  failed(now: number): Promise<number | null>;
}

export class FailureLimiter {
  private readonly redis: WithLimits;

  constructor(
    redis: Redis,
    private readonly opts: { max: number; windowMs: number; lockMs: number },
  ) {
    if (!('lgAdmit' in redis)) {
      redis.defineCommand('lgAdmit', { numberOfKeys: 3, lua: ADMIT });
      redis.defineCommand('lgFailed', { numberOfKeys: 3, lua: FAILED });
    }
    this.redis = redis as WithLimits;
  }

  /**
   * Admit an attempt (it is then being checked), or return the lock's remaining ms if `lockKey` is locked. While the
   * limit is taken up by attempts being checked, waits for them (a few ms) rather than locking.
   */
  async admit(failKey: string, lockKey: string, now: number): Promise<{ lockedMs: number } | Attempt> {
    return this.admitWith(failKey, lockKey, now, async ([k1, k2, k3], args) => [Number(await this.redis.lgAdmit(k1, k2, k3, ...args)), undefined]);
  }

  /**
   * admit(), with `step` running the limiter's script: LIMIT_ADMIT_FN with the keys and arguments given, and
   * whatever the caller reads in the same script. It answers the limiter's answer and the caller's reading (`data`).
   */
  async admitWith<T>(
    failKey: string,
    lockKey: string,
    now: number,
    step: (keys: [string, string, string], args: (string | number)[]) => Promise<[number, T]>,
  ): Promise<{ lockedMs: number } | (Attempt & { data: T })> {
    const member = `${now}-${randomBytes(4).toString('hex')}`;
    const checking = `${failKey}:checking`;
    const started = Date.now();
    let data: T;
    for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
      const [r, d] = await step([failKey, lockKey, checking], [now, this.opts.windowMs, this.opts.max, member]);
      if (r > 0) return { lockedMs: r };
      if (r === 0) {
        data = d;
        break;
      }
      if (Date.now() - started > BUSY_WAIT_MS) return { lockedMs: 1_000 };
      await new Promise((res) => setTimeout(res, wait));
    }
    return {
      data,
      ok: async () => {
        await this.redis.zrem(checking, member);
      },
      okOps: () => [['ZREM', checking, member]],
      failed: async (at: number) => {
        const ms = Number(await this.redis.lgFailed(failKey, lockKey, checking, member, this.opts.max, this.opts.lockMs, at, this.opts.windowMs));
        return ms > 0 ? at + ms : null;
      },
    };
  }

  /** epoch ms until which `lockKey` is locked, or null */
  async lockedUntil(lockKey: string): Promise<number | null> {
    const ttl = await this.redis.pttl(lockKey);
    return ttl > 0 ? Date.now() + ttl : null;
  }

  async clear(failKey: string, lockKey: string): Promise<void> {
    await this.redis.del(failKey, lockKey, `${failKey}:checking`);
  }
}
