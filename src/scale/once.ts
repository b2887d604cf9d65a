import type { Redis } from 'ioredis';

/**
 * A periodic job that one gateway of several should run per period (evidence checkpoints and retention): the first
 * gateway to claim the period's key (`once:{what}:{period number}`, SET NX) runs it; the others skip that period. A
 * gateway that dies mid-run leaves the period done; the next period runs on any gateway.
 */
export function oncePerPeriod(redis: Redis, prefix: string, gatewayId: string, now: () => number = Date.now) {
  return async (what: string, periodMs: number): Promise<boolean> => {
    const period = Math.floor(now() / periodMs);
    return (await redis.set(`${prefix}once:${what}:${period}`, gatewayId, 'PX', periodMs * 2, 'NX')) === 'OK';
  };
}
