import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * "N wrong attempts within a window lock for a while": codes at a keypad, remote pickups per phone and per client
 * address. An attempt is counted BEFORE its code is checked (one atomic step), so parallel guesses cannot slip past
 * the limit: at most N attempts are ever being checked or have failed within the window. A right code takes its
 * attempt back.
 */
const ADMIT = `
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return ttl end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[4])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`;

/** After a wrong code: lock at once when this was the Nth (returns the lock's length), else 0. */
const FAILED = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
end
return 0
`;

type WithLimits = Redis & {
  lgAdmit(k1: string, k2: string, ...a: (string | number)[]): Promise<number>;
  lgFailed(k1: string, k2: string, ...a: (string | number)[]): Promise<number>;
};

export interface Attempt {
  /** the code was right: the attempt does not count */
  ok(): Promise<void>;
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
      redis.defineCommand('lgAdmit', { numberOfKeys: 2, lua: ADMIT });
      redis.defineCommand('lgFailed', { numberOfKeys: 2, lua: FAILED });
    }
    this.redis = redis as WithLimits;
  }

  /** Count an attempt now, or return the lock's remaining ms if `lockKey` is locked (or this attempt locks it). */
  async admit(failKey: string, lockKey: string, now: number): Promise<{ lockedMs: number } | Attempt> {
    const member = `${now}-${randomBytes(4).toString('hex')}`;
    const locked = Number(await this.redis.lgAdmit(failKey, lockKey, now, this.opts.windowMs, this.opts.max, this.opts.lockMs, member));
    if (locked > 0) return { lockedMs: locked };
    return {
      ok: async () => {
        await this.redis.zrem(failKey, member);
      },
      failed: async (at: number) => {
        const ms = Number(await this.redis.lgFailed(failKey, lockKey, member, this.opts.max, this.opts.lockMs));
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
    await this.redis.del(failKey, lockKey);
  }
}
