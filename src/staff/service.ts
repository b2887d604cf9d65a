import { createHash, randomBytes } from 'node:crypto';
import { ulid } from '../domain/ids.js';
import type { Logger } from '../log.js';
import { FailureLimiter } from '../parcels/limits.js';
import type { StaffStore, StoredMember } from '../store/staff.js';
import { StaffError } from './errors.js';
import { DEFAULT_SCRYPT, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import {
  nameKey,
  validName,
  validPassword,
  type PasswordHash,
  type ScryptParams,
  type StaffIdentity,
  type StaffMember,
  type StaffRole,
  type StaffSession,
  type StaffToken,
} from './types.js';

export interface StaffPolicy {
  sessionMs: number;
  /** wrong logins within the window lock the name and the client address */
  lockout: { max: number; windowMs: number; lockMs: number };
  scrypt?: ScryptParams;
}

export type LoginResult =
  | { ok: true; member: StaffIdentity; token: string; session: StaffSession }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'locked'; retryAfterMs: number };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const view = ({ password: _p, ...m }: StoredMember): StaffMember => m;
const identity = (m: StaffMember): StaffIdentity => ({ id: m.id, name: m.name, role: m.role });
export const API_TOKEN_PREFIX = 'lgs_';

/**
 * Named staff: members and roles, password logins that open a session, API tokens for scripts. Every secret a
 * client holds (session cookie, API token) is random and stored only as its SHA-256; passwords as scrypt hashes.
 * Logins are limited per name and per client address, an attempt counted before its password is checked.
 */
export class StaffService {
  private readonly limiter: FailureLimiter;
  private dummy: Promise<PasswordHash> | null = null;

  constructor(
    private readonly d: { store: StaffStore; policy: StaffPolicy; logger: Logger; now?: () => number },
  ) {
    this.limiter = new FailureLimiter(d.store.redis, d.policy.lockout);
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  private get scrypt(): ScryptParams {
    return this.d.policy.scrypt ?? DEFAULT_SCRYPT;
  }

  // ------------------------------------------------------------------ members

  async add(input: { name: string; role: StaffRole; password: string }): Promise<StaffMember> {
    const name = input.name.trim();
    if (!validName(name)) throw new StaffError('invalid', 'name: 1 to 40 letters, digits, ".", "_" or "-" (not "bootstrap")', 'name');
    const bad = validPassword(input.password);
    if (bad) throw new StaffError('invalid', `password: ${bad}`, 'password');
    const now = this.now();
    const member: StoredMember = {
      id: `s_${ulid(now).toLowerCase()}`,
      name,
      role: input.role,
      active: true,
      createdAt: now,
      updatedAt: now,
      password: await hashPassword(input.password, this.scrypt),
    };
    if (!(await this.d.store.addMember(member))) throw new StaffError('conflict', `a member named ${name} exists already`, 'name');
    return view(member);
  }

  async list(): Promise<StaffMember[]> {
    return (await this.d.store.members()).map(view);
  }

  async get(id: string): Promise<StaffMember | null> {
    const m = await this.d.store.member(id);
    return m ? view(m) : null;
  }

  async byName(name: string): Promise<StaffMember | null> {
    const m = await this.d.store.memberByName(name);
    return m ? view(m) : null;
  }

  private async must(id: string): Promise<StoredMember> {
    const m = await this.d.store.member(id);
    if (!m) throw new StaffError('not_found', `no staff member ${id}`);
    return m;
  }

  /** Refuse a change that would leave no active admin (nobody could manage staff any more). */
  private async keepAnAdmin(m: StoredMember, next: { role: StaffRole; active: boolean }): Promise<void> {
    if (m.role !== 'admin' || !m.active || (next.role === 'admin' && next.active)) return;
    const others = (await this.d.store.members()).filter((x) => x.id !== m.id && x.role === 'admin' && x.active);
    if (!others.length) throw new StaffError('last_admin', `${m.name} is the last active admin`);
  }

  /** Disabling ends the member's sessions at once; their API tokens stop working until enabled again. */
  async setActive(id: string, active: boolean): Promise<StaffMember> {
    const m = await this.must(id);
    await this.keepAnAdmin(m, { role: m.role, active });
    const next = { ...m, active, updatedAt: this.now() };
    await this.d.store.putMember(next);
    if (!active) await this.d.store.deleteSessions(id);
    return view(next);
  }

  async setRole(id: string, role: StaffRole): Promise<StaffMember> {
    const m = await this.must(id);
    await this.keepAnAdmin(m, { role, active: m.active });
    const next = { ...m, role, updatedAt: this.now() };
    await this.d.store.putMember(next);
    return view(next);
  }

  /** A new password ends every session of the member (whoever knew the old one is signed out). */
  async resetPassword(id: string, password: string): Promise<StaffMember> {
    const bad = validPassword(password);
    if (bad) throw new StaffError('invalid', `password: ${bad}`, 'password');
    const m = await this.must(id);
    const next = { ...m, password: await hashPassword(password, this.scrypt), updatedAt: this.now() };
    await this.d.store.putMember(next);
    await this.d.store.deleteSessions(id);
    return view(next);
  }

  async changeOwnPassword(id: string, current: string, password: string): Promise<StaffMember> {
    const m = await this.must(id);
    if (!(await verifyPassword(current, m.password))) throw new StaffError('wrong_password', 'the current password is wrong', 'current');
    return this.resetPassword(id, password);
  }

  // ------------------------------------------------------------------ sessions

  async login(name: string, password: string, client: string): Promise<LoginResult> {
    const now = this.now();
    const admitted = [];
    for (const [kind, id] of [['name', nameKey(name)], ['ip', client]] as const) {
      const a = await this.limiter.admit(this.d.store.k.loginFailures(kind, id), this.d.store.k.loginLock(kind, id), now);
      if ('lockedMs' in a) {
        await Promise.all(admitted.map((x) => x.ok())); // not checked: does not count
        return { ok: false, reason: 'locked', retryAfterMs: a.lockedMs };
      }
      admitted.push(a);
    }
    const m = await this.d.store.memberByName(name);
    // Unknown names cost the same hash as known ones, so the answer's timing does not tell which names exist.
    const ok = await verifyPassword(password, m?.password ?? (await (this.dummy ??= hashPassword(randomBytes(16).toString('hex'), this.scrypt))));
    if (!m || !ok || !m.active) {
      await Promise.all(admitted.map((a) => a.failed(this.now())));
      this.d.logger.info('staff login refused', { name: m?.name ?? null, client, why: !m ? 'unknown name' : !ok ? 'wrong password' : 'disabled' });
      return { ok: false, reason: 'invalid' };
    }
    await Promise.all(admitted.map((a) => a.ok()));
    if (needsRehash(m.password, this.scrypt)) await this.d.store.putMember({ ...m, password: await hashPassword(password, this.scrypt) });
    const token = randomBytes(32).toString('base64url');
    const session: StaffSession = { memberId: m.id, createdAt: now, expiresAt: now + this.d.policy.sessionMs, csrf: randomBytes(24).toString('base64url') };
    await this.d.store.putSession(sha256(token), session, this.d.policy.sessionMs);
    this.d.logger.info('staff login', { member: m.id, name: m.name, client });
    return { ok: true, member: identity(m), token, session };
  }

  /** The member behind a session cookie, if the session is live and the member active. */
  async session(token: string): Promise<{ member: StaffIdentity; session: StaffSession } | null> {
    if (!token || token.length > 100) return null;
    const session = await this.d.store.session(sha256(token));
    if (!session || session.expiresAt <= this.now()) return null;
    const m = await this.d.store.member(session.memberId);
    if (!m?.active) return null;
    return { member: identity(m), session };
  }

  async logout(token: string): Promise<void> {
    const hash = sha256(token);
    const session = await this.d.store.session(hash);
    if (session) await this.d.store.deleteSession(hash, session.memberId);
  }

  // ------------------------------------------------------------------ API tokens

  /** A new API token for a member; the token is returned once and stored only as SHA-256. */
  async issueToken(memberId: string, label: string): Promise<{ token: string; record: StaffToken }> {
    const m = await this.must(memberId);
    const now = this.now();
    const token = `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record: StaffToken = { id: `t_${ulid(now).toLowerCase()}`, memberId: m.id, label: label.trim() || 'script', createdAt: now, lastUsedAt: null, revokedAt: null };
    await this.d.store.putToken(sha256(token), record);
    return { token, record };
  }

  async tokens(memberId?: string): Promise<StaffToken[]> {
    const all = await this.d.store.tokens();
    return memberId ? all.filter((t) => t.memberId === memberId) : all;
  }

  async token(id: string): Promise<StaffToken | null> {
    return this.d.store.token(id);
  }

  async revokeToken(id: string): Promise<StaffToken> {
    const t = await this.d.store.revokeToken(id, this.now());
    if (!t) throw new StaffError('not_found', `no API token ${id}`);
    return t;
  }

  /** The member behind an API token, if the token is not revoked and the member active. */
  async authenticateToken(token: string): Promise<{ member: StaffIdentity; token: StaffToken } | null> {
    if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 100) return null;
    const t = await this.d.store.tokenByHash(sha256(token));
    if (!t || t.revokedAt) return null;
    const m = await this.d.store.member(t.memberId);
    if (!m?.active) return null;
    const now = this.now();
    // Recorded at most once a minute: a busy script must not turn every request into a write.
    if (!t.lastUsedAt || now - t.lastUsedAt > 60_000) await this.d.store.touchToken(t.id, now);
    return { member: identity(m), token: t };
  }
}
