import type { Redis } from 'ioredis';
import { nameKey, type PasswordHash, type StaffMember, type StaffSession, type StaffToken } from '../staff/types.js';
import { keys, type Keys } from './keys.js';
import { Tx } from './tx.js';

export type StoredMember = StaffMember & { password: PasswordHash };
type StoredToken = StaffToken & { hash: string };

/**
 * Staff members, their sessions and API tokens in Redis. Sessions and tokens are found by the SHA-256 of the
 * secret the client holds, so the database never holds a usable secret. Session keys expire by themselves (the
 * service checks `expiresAt` against its own clock as well).
 */
export class StaffStore {
  readonly k: Keys;
  private readonly tx: Tx;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.k = keys(prefix);
    this.tx = new Tx(redis);
  }

  // ---- members ----

  /** Adds a member unless the name is taken (case-insensitively); false if it is. */
  async addMember(m: StoredMember): Promise<boolean> {
    const written = await this.tx.apply(
      [{ key: this.k.staffName(nameKey(m.name)), absent: true }],
      [
        ['SET', this.k.staffName(nameKey(m.name)), m.id],
        ['SET', this.k.staffMember(m.id), JSON.stringify(m)],
        ['SADD', this.k.staffMembers, m.id],
      ],
    );
    return written !== null;
  }

  async putMember(m: StoredMember): Promise<void> {
    await this.redis.set(this.k.staffMember(m.id), JSON.stringify(m));
  }

  async member(id: string): Promise<StoredMember | null> {
    const raw = await this.redis.get(this.k.staffMember(id));
    return raw ? (JSON.parse(raw) as StoredMember) : null;
  }

  async memberByName(name: string): Promise<StoredMember | null> {
    const id = await this.redis.get(this.k.staffName(nameKey(name)));
    return id ? this.member(id) : null;
  }

  async members(): Promise<StoredMember[]> {
    const ids = await this.redis.smembers(this.k.staffMembers);
    const all = await Promise.all(ids.map((id) => this.member(id)));
    return all.filter((m): m is StoredMember => m !== null).sort((a, b) => a.createdAt - b.createdAt);
  }

  // ---- sessions ----

  async putSession(hash: string, s: StaffSession, ttlMs: number): Promise<void> {
    await this.redis
      .multi()
      .set(this.k.staffSession(hash), JSON.stringify(s), 'PX', Math.max(1, Math.ceil(ttlMs)))
      .sadd(this.k.staffSessions(s.memberId), hash)
      .exec();
  }

  async session(hash: string): Promise<StaffSession | null> {
    const raw = await this.redis.get(this.k.staffSession(hash));
    return raw ? (JSON.parse(raw) as StaffSession) : null;
  }

  async deleteSession(hash: string, memberId: string): Promise<void> {
    await this.redis.multi().del(this.k.staffSession(hash)).srem(this.k.staffSessions(memberId), hash).exec();
  }

  /** Ends every session of a member (disabled, password reset). */
  async deleteSessions(memberId: string): Promise<number> {
    const hashes = await this.redis.smembers(this.k.staffSessions(memberId));
    const m = this.redis.multi();
    for (const h of hashes) m.del(this.k.staffSession(h));
    m.del(this.k.staffSessions(memberId));
    const res = (await m.exec()) ?? [];
    return res.slice(0, hashes.length).reduce((n, [, v]) => n + Number(v), 0);
  }

  // ---- API tokens ----

  async putToken(hash: string, t: StaffToken): Promise<void> {
    const stored: StoredToken = { ...t, hash };
    await this.redis
      .multi()
      .set(this.k.staffTokenHash(hash), t.id)
      .set(this.k.staffToken(t.id), JSON.stringify(stored))
      .zadd(this.k.staffTokens, t.createdAt, t.id)
      .exec();
  }

  async token(id: string): Promise<StaffToken | null> {
    const [raw, used] = await Promise.all([this.redis.get(this.k.staffToken(id)), this.redis.zscore(this.k.staffTokensUsed, id)]);
    if (!raw) return null;
    const { hash: _h, ...t } = JSON.parse(raw) as StoredToken;
    return { ...t, lastUsedAt: used === null ? null : Number(used) };
  }

  async tokenByHash(hash: string): Promise<StaffToken | null> {
    const id = await this.redis.get(this.k.staffTokenHash(hash));
    return id ? this.token(id) : null;
  }

  async tokens(): Promise<StaffToken[]> {
    const ids = await this.redis.zrange(this.k.staffTokens, 0, -1);
    const all = await Promise.all(ids.map((id) => this.token(id)));
    return all.filter((t): t is StaffToken => t !== null);
  }

  /** The hash mapping goes (the token stops working at once); the record stays, marked, for the list. */
  async revokeToken(id: string, at: number): Promise<StaffToken | null> {
    const raw = await this.redis.get(this.k.staffToken(id));
    if (!raw) return null;
    const t = JSON.parse(raw) as StoredToken;
    const revoked: StoredToken = { ...t, revokedAt: t.revokedAt ?? at };
    await this.redis.multi().del(this.k.staffTokenHash(t.hash)).set(this.k.staffToken(id), JSON.stringify(revoked)).exec();
    return this.token(id);
  }

  /** Kept apart from the record, so a use never races a revocation. */
  async touchToken(id: string, at: number): Promise<void> {
    await this.redis.zadd(this.k.staffTokensUsed, at, id);
  }
}
