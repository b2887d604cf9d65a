import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../domain/clock.js';
import type { ApiDeps } from '../http/deps.js';
import { ApiError, describeError } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { Couriers } from '../parcels/accounts.js';
import { ALIVE_TTL_MS, CLAIM_TTL_MS, EDGE_OPS, GROUP, RESULT_TTL_MS, SITE_STREAM, edgeKeys, type EdgeRequest, type EdgeResult } from './protocol.js';

export interface EdgeConsumerDeps {
  redis: Redis;
  prefix: string;
  /** the units of this site: one stream each, plus the site stream */
  units: readonly string[];
  api: ApiDeps;
  couriers: Pick<Couriers, 'get'>;
  /** wall time for deadlines (they cross machines); the system clock unless a test moves it */
  wallClock?: Clock;
  logger: Logger;
  /** how long one XREADGROUP blocks (default 1000 ms): the stop latency */
  blockMs?: number;
}

type Args = Record<string, unknown>;
/** pause before reading again after a Redis error */
const RETRY_MS = 500;
const str = (a: Args, k: string) => a[k] as string;

/**
 * The site gateway's half of the edge queue: reads the requests the Worker appended, runs each through the same
 * services as a local request (ParcelService: rules, lockdown, limits, then the door through the CommandBus), and
 * answers on the request's result key. A request past its deadline, or one the edge already gave up on, is dropped
 * unrun: the edge answered 503 for it, so opening a door for it now would surprise everyone.
 */
export function startEdgeConsumer(d: EdgeConsumerDeps): { stop(): Promise<void> } {
  const k = edgeKeys(d.prefix);
  const wall = d.wallClock ?? systemClock;
  const log = d.logger.child({ component: 'edge-consumer' });
  const reader = d.redis.duplicate();
  reader.on('error', (err: Error) => log.error('edge consumer redis error', { err }));
  const streams = [...d.units, SITE_STREAM].map((lane) => k.stream(lane));
  const consumer = `gw-${wall.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const running = new Set<Promise<void>>();
  let stopped = false;

  const courier = async (id: unknown) => {
    const c = typeof id === 'string' ? await d.couriers.get(id) : null;
    if (!c?.active) throw new ApiError(401, 'unauthorized', 'a valid courier token is required (Authorization: Bearer lgc_…)');
    return c;
  };
  const run = async (r: EdgeRequest): Promise<unknown> => {
    const a = r.args;
    const p = d.api.parcels;
    const s = d.api.residentSignIn;
    switch (r.op) {
      case 'deposit':
        return p.deposit(await courier(a.courierId), a.input as never);
      case 'remotePickup':
        return p.remotePickup(a.input as never);
      case 'returnParcel':
        return p.returnParcel(await courier(a.courierId), str(a, 'parcelId'), str(a, 'ref'));
      case 'get':
        return p.get(str(a, 'id'));
      case 'residentParcels':
        return p.residentParcels(str(a, 'phone'), str(a, 'code'), str(a, 'client'));
      case 'extend':
        return p.extend(str(a, 'phone'), str(a, 'code'), str(a, 'parcelId'), str(a, 'client'));
      case 'extendOwn':
        return p.extendOwn(str(a, 'phone'), str(a, 'parcelId'));
      case 'residentHistory':
        return p.residentHistory(str(a, 'phone'), a.endedSince as number);
      case 'requestCode':
        return s.requestCode(str(a, 'phone'), str(a, 'client'));
      case 'verify':
        return s.verify(str(a, 'phone'), str(a, 'code'));
      case 'authenticateResident':
        return s.authenticate(str(a, 'token'));
      case 'signOut':
        return s.signOut(str(a, 'token'));
    }
  };

  const handle = async (stream: string, entryId: string, raw: string | undefined): Promise<void> => {
    let req: EdgeRequest | null = null;
    try {
      req = raw ? (JSON.parse(raw) as EdgeRequest) : null;
    } catch {
      req = null;
    }
    try {
      if (!req || typeof req.id !== 'string' || !(EDGE_OPS as readonly string[]).includes(req.op) || typeof req.deadline !== 'number') {
        log.warn('malformed edge request dropped', { stream, entryId });
        return;
      }
      if (wall.now() > req.deadline) {
        log.warn('edge request past its deadline dropped unrun', { op: req.op, id: req.id });
        return;
      }
      // One side claims: if the edge gave up first, it already answered 503 and the request must not run.
      if ((await d.redis.set(k.claim(req.id), 'site', 'PX', CLAIM_TTL_MS, 'NX')) === null) {
        log.warn('edge request abandoned by the edge dropped unrun', { op: req.op, id: req.id });
        return;
      }
      let result: EdgeResult;
      try {
        result = { ok: true, value: (await run(req)) ?? null };
      } catch (err) {
        const known = describeError(err);
        if (!known) log.error('edge request failed', { op: req.op, id: req.id, err });
        result = known
          ? { ok: false, status: known.status, code: known.code, message: known.message, ...(known.details ? { details: known.details } : {}) }
          : { ok: false, status: 500, code: 'internal', message: 'internal error on the site gateway' };
      }
      await d.redis.multi().rpush(k.result(req.id), JSON.stringify(result)).pexpire(k.result(req.id), RESULT_TTL_MS).exec();
    } finally {
      await d.redis.multi().xack(stream, GROUP, entryId).xdel(stream, entryId).exec();
    }
  };

  const track = (p: Promise<void>) => {
    const t = p.catch((err: unknown) => log.error('edge request handling failed', { err })).finally(() => running.delete(t));
    running.add(t);
  };

  const loop = async () => {
    let groups = false;
    // First what this consumer name left pending (none for a fresh name), then new entries. A Redis error (a restart,
    // a failover) is waited out: the loop must outlive it, or the edge's requests would queue unread for good.
    while (!stopped) {
      try {
        if (!groups) {
          for (const s of streams) {
            await reader.xgroup('CREATE', s, GROUP, '0', 'MKSTREAM').catch((err: Error) => {
              if (!/BUSYGROUP/.test(err.message)) throw err;
            });
          }
          groups = true;
        }
        await d.redis.set(k.alive, consumer, 'PX', ALIVE_TTL_MS);
        const res = (await reader.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 32, 'BLOCK', d.blockMs ?? 1000, 'STREAMS', ...streams, ...streams.map(() => '>'))) as
          | [string, [string, string[]][]][]
          | null;
        for (const [stream, entries] of res ?? []) {
          for (const [entryId, fields] of entries) {
            const i = fields.indexOf('req');
            track(handle(stream, entryId, i >= 0 ? fields[i + 1] : undefined));
          };
        }
      } catch (err) {
        if (stopped) return;
        // NOGROUP after a Redis that lost its data: create the groups again
        groups = false;
        log.warn('edge consumer: reading the queue failed; retrying', { err });
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  };
  const done = loop().catch((err: unknown) => {
    if (!stopped) log.error('edge consumer stopped on an error', { err });
  });

  return {
    async stop() {
      stopped = true;
      await Promise.race([done, new Promise((r) => setTimeout(r, (d.blockMs ?? 1000) + 500))]);
      await Promise.allSettled([...running]);
      await d.redis.del(k.alive).catch(() => undefined);
      reader.disconnect();
    },
  };
}
