import type { Redis } from 'ioredis';

/**
 * "N failures within a window lock for a while": wrong codes at a keypad, and failed remote pickups per phone and
 * per client address. Failures are a sorted set of times; the lock is a key with an expiry.
 */
export class FailureLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly opts: { max: number; windowMs: number; lockMs: number },
  ) {}

  /** epoch ms until which `lockKey` is locked, or null */
  async lockedUntil(lockKey: string): Promise<number | null> {
    const ttl = await this.redis.pttl(lockKey);
    return ttl > 0 ? Date.now() + ttl : null;
  }

  /** Record a failure; returns the lock's end if this failure locked it. */
  async fail(failKey: string, lockKey: string, now: number): Promise<number | null> {
    const res = await this.redis
      .multi()
      .zadd(failKey, now, `${now}-${Math.random().toString(36).slice(2, 8)}`)
      .zremrangebyscore(failKey, '-inf', now - this.opts.windowMs)
      .zcard(failKey)
      .pexpire(failKey, this.opts.windowMs)
      .exec();
    const count = Number(res?.[2]?.[1] ?? 0);
    if (count < this.opts.max) return null;
    await this.redis.multi().set(lockKey, String(now + this.opts.lockMs), 'PX', this.opts.lockMs).del(failKey).exec();
    return now + this.opts.lockMs;
  }

  async clear(failKey: string, lockKey: string): Promise<void> {
    await this.redis.del(failKey, lockKey);
  }
}
