import type { ChainableCommander, Redis } from 'ioredis';

/**
 * A read that can share a pipeline with others: it adds its commands (`n` of them) to a pipeline and decodes their
 * replies. Each store describes its own reads (the keys and the record format stay with their owner); a caller that
 * needs several at once (a deposit: tracking, preferences, lockdown, the unit's state…) sends them together with
 * readAll, in one round trip instead of one each.
 */
export interface Read<T> {
  readonly n: number;
  add(pipe: ChainableCommander): void;
  decode(replies: unknown[]): T;
}

type Results<T extends readonly Read<unknown>[]> = { -readonly [K in keyof T]: T[K] extends Read<infer R> ? R : never };

/** Every read in one pipeline (one round trip); the first error any command met is thrown. */
export async function readAll<T extends readonly Read<unknown>[]>(redis: Redis, reads: T): Promise<Results<T>> {
  const pipe = redis.pipeline();
  for (const r of reads) r.add(pipe);
  const res = reads.some((r) => r.n > 0) ? ((await pipe.exec()) ?? []) : [];
  const err = res.find(([e]) => e)?.[0];
  if (err) throw err;
  const replies = res.map(([, v]) => v);
  let at = 0;
  return reads.map((r) => {
    const mine = replies.slice(at, at + r.n);
    at += r.n;
    return r.decode(mine);
  }) as Results<T>;
}

/** One read alone (what the store's single-read methods use, so that both paths decode alike). */
export async function readOne<T>(redis: Redis, read: Read<T>): Promise<T> {
  const [v] = await readAll(redis, [read] as const);
  return v;
}

/** A read that sends nothing and answers `v` (a slot of readAll's list that this call does not need). */
export function nothing<T>(v: T): Read<T> {
  return { n: 0, add: () => undefined, decode: () => v };
}
