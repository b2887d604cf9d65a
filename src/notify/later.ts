import type { Redis } from 'ioredis';
import type { QueuedJob } from './jobs.js';
import { noticeJobSchema, type NoticeJob } from './types.js';

/**
 * The later-store: notices due far ahead (reminders, an overdue text held back by quiet hours) wait here, not in
 * BullMQ's delayed set, and go into their queue shortly before they are due (Notifier.moveDue, the pump). A BullMQ
 * job costs ~45 Redis commands from add to removal; most reminders are withdrawn (their parcel collected) long before
 * their time, so they now cost a ZADD + HSET when written and a ZREM + HDEL when withdrawn.
 *
 * Two keys under the notifier's prefix: `<prefix>:later` (zset: job id → due time in ms, or a pump's claim) and
 * `<prefix>:later:jobs` (hash: job id → JSON `{name, data, dueAt}`, the job as it will be added). Every script
 * declares both keys; in a Redis Cluster they need one hash slot, which a tagged prefix gives (`{lg:bull}`; today's
 * `lg:bull` is untagged, like the queues': docs/scaling.md, "What the code must change for Redis Cluster", item 5).
 *
 * Moving a due entry (at-least-once, idempotent, like the outbox relay):
 *  1. claim: one script takes the due entries and sets their score to a lease's end (now + LATER_LEASE_MS), so a
 *     second pump (another workers process) does not take them too; the entries stay in the store.
 *  2. the pump adds each job to its queue with its deterministic job id (BullMQ ignores an add whose id exists).
 *  3. done: one script removes each entry only if it still holds this claim and the same job; a pump that died
 *     between 2 and 3 leaves the claim, which runs out and another pump moves the entry again (its add ignored, the
 *     job's sent key stopping a second text in any case). An entry withdrawn (cancel) or replaced (cancel, then
 *     enqueued again with another time) between 1 and 3 is reported, and the pump removes the job it just added.
 */

/** A claim runs out after this: a pump that died holding it is replaced by another within this time. */
export const LATER_LEASE_MS = 60_000;
/** Entries claimed per script call (the pump claims again at once when a batch was full). */
export const LATER_BATCH = 200;

export function laterKeys(prefix: string): { due: string; jobs: string } {
  return { due: `${prefix}:later`, jobs: `${prefix}:later:jobs` };
}

/** A job as Queue.add takes it, kept until it is due. */
export interface LaterJob {
  name: string;
  data: NoticeJob;
  dueAt: number;
}

/** A notice's jobs (one per route) and when they are due. */
export interface NoticeJobs {
  at: number;
  jobs: QueuedJob[];
}

/**
 * Jobs placed: the ones for BullMQ now, the ones due far ahead (for the later-store), and the ones delivered at once
 * without a queue: console deliveries due now (a log line cannot fail; reminders excluded, they ask stillWanted).
 */
export interface Placed {
  now: QueuedJob[];
  later: LaterJob[];
  atOnce: QueuedJob[];
}

/** Which jobs go to BullMQ now, which wait in the later-store (due `afterMs` or more ahead), which go at once. Pure. */
export function placeJobs(notices: readonly NoticeJobs[], afterMs: number): Placed {
  const placed: Placed = { now: [], later: [], atOnce: [] };
  for (const { at, jobs } of notices) {
    for (const j of jobs) {
      if (j.opts.delay >= afterMs) placed.later.push({ name: j.name, data: j.data, dueAt: at });
      else if (j.data.channel === 'console' && j.opts.delay === 0 && j.name !== 'reminder') placed.atOnce.push(j);
      else placed.now.push(j);
    }
  }
  return placed;
}

/** A claimed entry: the job and the stored text it was read from (compared when it is removed). */
export interface ClaimedJob {
  jobId: string;
  raw: string;
  /** null: the stored text is not a job (it is removed and not queued) */
  job: LaterJob | null;
}

// ARGV: triples (dueAt, jobId, json). An id already in the store is left as it is (what BullMQ does with an add
// whose id exists): cancel first to move it. Returns how many were added.
const ADD = `
local added = 0
for i = 1, #ARGV, 3 do
  local id = ARGV[i + 1]
  if not redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], ARGV[i], id)
    redis.call('HSET', KEYS[2], id, ARGV[i + 2])
    added = added + 1
  end
end
return added`;

// ARGV: due-by, lease end, limit. Returns id, json pairs; a zset entry without its job is dropped.
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = raw
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`;

// ARGV: lease end, then pairs (jobId, json). Per entry: 1 removed (still this claim and this job), 0 withdrawn or
// replaced meanwhile (the job added for it is unwanted), 2 the same job under another claim or time (left alone).
const DONE = `
local lease = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[2], id)
  if raw ~= ARGV[i + 1] then
    out[#out + 1] = 0
  elseif tonumber(redis.call('ZSCORE', KEYS[1], id)) == lease then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 2
  end
end
return out`;

type Scripted = Redis & {
  lgLaterAdd(due: string, jobs: string, ...argv: (string | number)[]): Promise<number>;
  lgLaterClaim(due: string, jobs: string, dueBy: number, leaseEnd: number, limit: number): Promise<string[]>;
  lgLaterDone(due: string, jobs: string, leaseEnd: number, ...argv: string[]): Promise<number[]>;
};

export class LaterStore {
  readonly keys: { due: string; jobs: string };
  private readonly redis: Scripted;

  constructor(redis: Redis, prefix: string) {
    this.keys = laterKeys(prefix);
    if (!('lgLaterAdd' in redis)) {
      redis.defineCommand('lgLaterAdd', { numberOfKeys: 2, lua: ADD });
      redis.defineCommand('lgLaterClaim', { numberOfKeys: 2, lua: CLAIM });
      redis.defineCommand('lgLaterDone', { numberOfKeys: 2, lua: DONE });
    }
    this.redis = redis as Scripted;
  }

  /** Keep these jobs until they are due (one script call). An id already kept is left as it is. */
  async add(jobs: readonly LaterJob[]): Promise<number> {
    if (!jobs.length) return 0;
    const argv = jobs.flatMap((j) => [j.dueAt, j.data.jobId, JSON.stringify(j)]);
    return this.redis.lgLaterAdd(this.keys.due, this.keys.jobs, ...argv);
  }

  /** Claim the entries due by `dueBy` (at most LATER_BATCH) until `leaseEnd`. */
  async claim(dueBy: number, leaseEnd: number): Promise<ClaimedJob[]> {
    const flat = await this.redis.lgLaterClaim(this.keys.due, this.keys.jobs, dueBy, leaseEnd, LATER_BATCH);
    const out: ClaimedJob[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ jobId: flat[i]!, raw: flat[i + 1]!, job: parseJob(flat[i + 1]!) });
    return out;
  }

  /** Remove the entries still under this claim; per entry 1 removed, 0 withdrawn or replaced, 2 left (see DONE). */
  async done(leaseEnd: number, claimed: readonly ClaimedJob[]): Promise<number[]> {
    if (!claimed.length) return [];
    return this.redis.lgLaterDone(this.keys.due, this.keys.jobs, leaseEnd, ...claimed.flatMap((c) => [c.jobId, c.raw]));
  }

  /** How many notices wait here. */
  count(): Promise<number> {
    return this.redis.zcard(this.keys.due);
  }

  /** The entries in due order (claimed ones at their claim's end): what a staff page or a test lists. */
  async list(limit = 100): Promise<(LaterJob & { jobId: string; score: number })[]> {
    const flat = await this.redis.zrange(this.keys.due, 0, limit - 1, 'WITHSCORES');
    const ids = flat.filter((_, i) => i % 2 === 0);
    if (!ids.length) return [];
    const raws = await this.redis.hmget(this.keys.jobs, ...ids);
    return ids.flatMap((jobId, i) => {
      const job = raws[i] ? parseJob(raws[i]) : null;
      return job ? [{ ...job, jobId, score: Number(flat[2 * i + 1]) }] : [];
    });
  }
}

function parseJob(raw: string): LaterJob | null {
  try {
    const v = JSON.parse(raw) as { name?: unknown; data?: unknown; dueAt?: unknown };
    const data = noticeJobSchema.safeParse(v.data);
    if (typeof v.name !== 'string' || typeof v.dueAt !== 'number' || !data.success) return null;
    // as stored (already parsed when it was written): the job added is then byte for byte the stored one
    return { name: v.name, data: v.data as NoticeJob, dueAt: v.dueAt };
  } catch {
    return null;
  }
}
