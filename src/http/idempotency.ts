import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ulid } from '../domain/ids.js';
import { ApiError } from './errors.js';

/**
 * The API's `Idempotency-Key`, scoped to the caller and the request. A key is the client's own choice, so two
 * callers may pick the same one: it is never used as it is, only hashed together with who asks and what for.
 *
 * - `ref(...)` is what the parcel service and the command bus see (the command id of the door open): a hash of
 *   the caller, the request and the key, so the same key from another resident, or for another code, is another
 *   open, and a retry of the very same request is the same open (the door opens once).
 * - `perform(...)` keeps, per caller and key, a fingerprint of the request that was done with it: the same key
 *   sent again with a different request answers 422 `idempotency_key_reused` instead of silently doing either.
 *   A request is remembered only once it was carried out, so a mistyped code can be corrected under the same key.
 */
export class IdempotencyKeys {
  constructor(
    private readonly redis: Pick<Redis, 'get' | 'set'>,
    private readonly prefix: string,
    private readonly ttlS = 24 * 3600,
  ) {}

  /**
   * Runs `fn` with the ref of this caller + request + key (a fresh ref without a key), after refusing with 422 a key
   * this caller already used for another request; remembers the request once `fn` has carried it out.
   */
  async perform<T>(
    kind: string,
    caller: readonly string[],
    request: readonly string[],
    key: string | undefined,
    fn: (ref: string) => Promise<T>,
  ): Promise<T> {
    if (!key) return fn(`${kind}-${ulid()}`);
    if (await this.reused(kind, caller, key, request)) {
      throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was already used for another request; send a new key for a new request');
    }
    const result = await fn(IdempotencyKeys.ref(kind, [...caller, ...request], key));
    await this.remember(kind, caller, key, request);
    return result;
  }

  /** A command-safe id (letters, digits, - and _; never the raw key) for this caller + request + key. */
  static ref(kind: string, parts: readonly string[], key: string): string {
    return `${kind}-${digest([kind, ...parts, key])}`;
  }

  /** Whether `key` was already used by this caller for a different request. */
  private async reused(kind: string, caller: readonly string[], key: string, request: readonly string[]): Promise<boolean> {
    const done = await this.redis.get(this.redisKey(kind, caller, key));
    return done !== null && done !== digest(request);
  }

  /** Remember which request this caller did with `key` (the first one wins). */
  private async remember(kind: string, caller: readonly string[], key: string, request: readonly string[]): Promise<void> {
    await this.redis.set(this.redisKey(kind, caller, key), digest(request), 'EX', this.ttlS, 'NX');
  }

  private redisKey(kind: string, caller: readonly string[], key: string): string {
    return `${this.prefix}idem:${kind}:${digest([kind, ...caller, key])}`;
  }
}

/** SHA-256 of the parts (as a JSON array: unambiguous whatever they contain), base64url, 192 bits. */
function digest(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 32);
}
