import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';

/**
 * Per-unit leases: each unit has one owner gateway at a time. A lease is a Redis key `lease:{unit}` holding the
 * owner's token (SET NX PX), renewed by compare-and-extend (Lua) and released by compare-and-delete on a clean stop.
 * A dead gateway's leases expire after `ttlMs`; the others look for free units every `renewMs` and take them up to
 * their fair share (units / live gateways, rounded up), so a second gateway gets half the units and a survivor gets
 * all of them. A gateway above its fair share hands one unit back per round (clean hand-over: the driver stops first).
 *
 * Fencing: `holds(unit)` is true only until `validUntil`, which is the start of the last successful renewal plus
 * the TTL less a safety margin (a third of the TTL): the owner stops its driver (and refuses to publish) before
 * anybody else can acquire the lease, even when its renewals stop reaching Redis.
 */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export const leaseKeys = (prefix: string) => ({
  /** the owner's token of a unit (`{gateway id}|{random}`); the unit id in braces: one hash slot per unit in a cluster */
  lease: (unit: string) => `${prefix}lease:{${unit}}`,
  /** zset gateway id -> last heartbeat (ms): the live gateways, for fair shares */
  gateways: `${prefix}gateways`,
});

export interface UnitLeasesDeps {
  redis: Redis;
  prefix: string;
  gatewayId: string;
  units: readonly string[];
  ttlMs: number;
  renewMs: number;
  logger: Logger;
  /** a lease was acquired: start the unit's driver (awaited before the next round) */
  acquired(unit: string): Promise<void>;
  /** a lease was lost or is being released: stop the unit's driver at once */
  lost(unit: string): Promise<void>;
  counters?: Counters;
  now?: () => number;
}

type RedisWithLeases = Redis & {
  lgLeaseRenew(key: string, token: string, ttl: number): Promise<number>;
  lgLeaseRelease(key: string, token: string): Promise<number>;
};

export class UnitLeases {
  private readonly held = new Map<string, { token: string; validUntil: number }>();
  private readonly k;
  private timer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private round: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly d: UnitLeasesDeps) {
    this.k = leaseKeys(d.prefix);
    this.log = d.logger.child({ component: 'leases', gateway: d.gatewayId });
    this.now = d.now ?? Date.now;
    d.redis.defineCommand('lgLeaseRenew', { numberOfKeys: 1, lua: RENEW });
    d.redis.defineCommand('lgLeaseRelease', { numberOfKeys: 1, lua: RELEASE });
  }

  private get r(): RedisWithLeases {
    return this.d.redis as RedisWithLeases;
  }

  /** units whose lease this gateway holds and may act on now */
  owned(): string[] {
    const now = this.now();
    return [...this.held].filter(([, h]) => h.validUntil > now).map(([u]) => u);
  }

  holds(unit: string): boolean {
    const h = this.held.get(unit);
    return !!h && h.validUntil > this.now();
  }

  /** First round now (awaited), then every renewMs. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void (this.round = this.round.then(() => this.tick())), this.d.renewMs);
    // A renewal stuck behind an unreachable Redis must not keep a driver running past its lease.
    this.watchdog = setInterval(() => void this.expire(), Math.min(1000, this.d.renewMs));
  }

  private margin(): number {
    return Math.floor(this.d.ttlMs / 3);
  }

  private async expire(): Promise<void> {
    const now = this.now();
    for (const [unit, h] of [...this.held]) {
      if (h.validUntil > now) continue;
      this.held.delete(unit);
      this.d.counters?.inc('lg_leases_total', { event: 'lost' });
      this.log.warn('lease expired before it could be renewed: unit dropped', { unit });
      await this.d.lost(unit).catch((err: unknown) => this.log.error('stopping a unit failed', { unit, err }));
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const started = this.now();
      await this.r.zadd(this.k.gateways, started, this.d.gatewayId);
      // renew what we hold
      const held = [...this.held];
      if (held.length) {
        const pipe = this.r.pipeline();
        for (const [unit, h] of held) (pipe as unknown as RedisWithLeases).lgLeaseRenew(this.k.lease(unit), h.token, this.d.ttlMs);
        const res = (await pipe.exec()) ?? [];
        for (const [i, [unit, h]] of held.entries()) {
          const [err, ok] = res[i] ?? [null, 0];
          if (err) continue; // not renewed this round; the watchdog drops it if that lasts
          if (Number(ok) === 1) h.validUntil = started + this.d.ttlMs - this.margin();
          else {
            this.held.delete(unit);
            this.d.counters?.inc('lg_leases_total', { event: 'lost' });
            this.log.warn('lease lost to another gateway: unit dropped', { unit });
            await this.d.lost(unit);
          }
        }
      }
      await this.expire();
      // fair share among the live gateways (heartbeat within a TTL)
      await this.r.zremrangebyscore(this.k.gateways, '-inf', started - this.d.ttlMs - this.d.renewMs);
      const live = Math.max(1, await this.r.zcount(this.k.gateways, started - this.d.ttlMs, '+inf'));
      const fair = Math.ceil(this.d.units.length / live);
      if (this.held.size > fair) {
        const unit = [...this.held.keys()].pop()!;
        this.log.info('handing a unit over (more than a fair share)', { unit, held: this.held.size, fair });
        await this.release(unit);
        return;
      }
      for (const unit of this.d.units) {
        if (this.held.size >= fair || this.stopped) break;
        if (this.held.has(unit)) continue;
        const token = `${this.d.gatewayId}|${randomBytes(6).toString('hex')}`;
        const at = this.now();
        if ((await this.r.set(this.k.lease(unit), token, 'PX', this.d.ttlMs, 'NX')) !== 'OK') continue;
        this.held.set(unit, { token, validUntil: at + this.d.ttlMs - this.margin() });
        this.d.counters?.inc('lg_leases_total', { event: 'acquired' });
        this.log.info('lease acquired: this gateway now serves the unit', { unit });
        try {
          await this.d.acquired(unit);
        } catch (err) {
          this.log.error('starting a unit failed: lease released', { unit, err });
          await this.release(unit);
        }
      }
    } catch (err) {
      this.log.warn('lease round failed (Redis?); leases not renewed in time are dropped', { err });
    }
  }

  private async release(unit: string): Promise<void> {
    const h = this.held.get(unit);
    if (!h) return;
    // still held while its driver stops (a poll under way may finish), then let go
    await this.d.lost(unit).catch((err: unknown) => this.log.error('stopping a unit failed', { unit, err }));
    this.held.delete(unit);
    this.d.counters?.inc('lg_leases_total', { event: 'released' });
    await this.r.lgLeaseRelease(this.k.lease(unit), h.token).catch((err: unknown) => this.log.warn('lease release failed (it expires by itself)', { unit, err }));
  }

  /** Clean shutdown: stop every unit's driver, then release its lease so another gateway takes it at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
    await this.round;
    for (const unit of [...this.held.keys()]) await this.release(unit);
    await this.r.zrem(this.k.gateways, this.d.gatewayId).catch(() => undefined);
  }
}
