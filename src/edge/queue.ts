import type { Redis } from 'ioredis';
import { ApiError, ERROR_CODES, type ErrorCode } from '../http/errors.js';
import { CLAIM_TTL_MS, STREAM_MAXLEN, edgeKeys, type EdgeOp, type EdgeRequest, type EdgeResult } from './protocol.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export interface SiteQueueOptions {
  prefix: string;
  /** how long a request may wait in the queue for the site gateway to take it */
  timeoutMs: number;
  /** once the site took it: how much longer to wait for its answer (a door open waits for the unit) */
  graceMs: number;
  /** named in the 503 (e.g. the site gateway's address) */
  gateway: string;
  now: () => number;
  ids: () => string;
}

/**
 * The edge's half of the queue (src/edge/protocol.ts): append a request, wait for the site's answer, and either
 * return its value or throw the site's error as it would have answered. On timeout, claim the request first so the
 * site never runs it late, then answer 503 `site_unavailable`.
 */
export class SiteQueue {
  private readonly k;

  constructor(
    private readonly redis: () => Redis,
    private readonly o: SiteQueueOptions,
  ) {
    this.k = edgeKeys(o.prefix);
  }

  async call<T>(lane: string, op: EdgeOp, args: Record<string, unknown>): Promise<T> {
    const redis = this.redis();
    const id = this.o.ids();
    const req: EdgeRequest = { id, op, args, deadline: this.o.now() + this.o.timeoutMs };
    try {
      await redis.xadd(this.k.stream(lane), 'MAXLEN', '~', STREAM_MAXLEN, '*', 'req', JSON.stringify(req));
    } catch (err) {
      throw this.unavailable(`the edge cannot reach Redis to queue the request (${(err as Error).message})`);
    }
    let answer = await this.wait(redis, id, this.o.timeoutMs);
    if (answer === null) {
      // Give up first if the site has not taken it: then it is never run (the site drops a claimed request).
      const gaveUp = (await redis.set(this.k.claim(id), 'edge', 'PX', CLAIM_TTL_MS, 'NX')) !== null;
      if (gaveUp) throw this.unavailable(`the site gateway did not take the request within ${this.o.timeoutMs} ms; nothing was done`);
      answer = await this.wait(redis, id, this.o.graceMs);
      if (answer === null) {
        throw this.unavailable(`the site gateway took the request but did not answer within ${this.o.graceMs} ms; check the parcel's state before retrying`);
      }
    }
    if (answer.ok) return answer.value as T;
    const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(answer.code) ? (answer.code as ErrorCode) : 'internal';
    throw new ApiError(answer.status as ContentfulStatusCode, code, answer.message, answer.details);
  }

  private async wait(redis: Redis, id: string, ms: number): Promise<EdgeResult | null> {
    const got = await redis.blpop(this.k.result(id), Math.max(ms, 1) / 1000);
    return got ? (JSON.parse(got[1]) as EdgeResult) : null;
  }

  private unavailable(why: string): ApiError {
    return new ApiError(503, 'site_unavailable', `the site gateway (${this.o.gateway}) is unavailable: ${why}`, { gateway: this.o.gateway });
  }
}
