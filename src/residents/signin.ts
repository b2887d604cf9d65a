import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { randomCode } from '../domain/codes.js';
import { ulid } from '../domain/ids.js';
import type { Logger } from '../log.js';
import { maskPhone } from '../notify/phone.js';
import type { Notice } from '../notify/types.js';
import type { Residents } from '../parcels/accounts.js';
import { FailureLimiter, type Attempt } from '../parcels/limits.js';
import type { Keys } from '../store/keys.js';

export interface ResidentSignInPolicy {
  /** how long a one-time code is valid (5 minutes) */
  codeTtlMs: number;
  /** wrong tries a code allows before it is dead (5) */
  maxTries: number;
  /** codes a phone may ask for per window (3 per 15 minutes) */
  perPhone: { max: number; windowMs: number };
  /** codes one client address may ask for per window */
  perAddress: { max: number; windowMs: number };
  /** how long a resident token is valid */
  sessionMs: number;
}

export const DEFAULT_SIGNIN_POLICY: Omit<ResidentSignInPolicy, 'sessionMs' | 'perAddress'> = {
  codeTtlMs: 5 * 60_000,
  maxTries: 5,
  perPhone: { max: 3, windowMs: 15 * 60_000 },
};

export type CodeRequest = { ok: true; expiresAt: number } | { ok: false; scope: 'phone' | 'address'; retryAfterMs: number };
export type CodeCheck =
  | { ok: true; token: string; expiresAt: number }
  | { ok: false; reason: 'no_code' | 'expired' | 'used_up' }
  | { ok: false; reason: 'wrong'; triesLeft: number };

/**
 * Counts the try before comparing (one atomic step, so parallel guesses cannot exceed the tries), and deletes the
 * code once it is used or out of date. Returns {verdict, tries left}.
 */
const CHECK = `
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return {'no_code', 0} end
if tonumber(redis.call('HGET', KEYS[1], 'exp')) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {'expired', 0}
end
local max = tonumber(ARGV[3])
if tonumber(redis.call('HGET', KEYS[1], 'tries')) >= max then return {'used_up', 0} end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if h == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return {'ok', max - tries}
end
return {'wrong', max - tries}
`;

type WithCheck = Redis & { lgOtpCheck(key: string, now: number, hash: string, max: number): Promise<[string, number]> };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const RESIDENT_TOKEN_PREFIX = 'lgr_';

/**
 * Residents sign in with a one-time code texted to their phone, and get a short-lived token (`lgr_…`). The code
 * exists in clear only in the resident's text in flight (the outbox entry and the SMS job, scrubbed once sent);
 * Redis keeps its keyed hash, and it is never logged.
 */
export class ResidentSignIn {
  private readonly redis: WithCheck;
  private readonly phoneLimiter: FailureLimiter;
  private readonly addressLimiter: FailureLimiter;
  private readonly key: Buffer;

  constructor(
    private readonly d: {
      redis: Redis;
      k: Keys;
      codeKey: Buffer;
      residents: Residents;
      policy: ResidentSignInPolicy;
      logger: Logger;
      now?: () => number;
    },
  ) {
    if (!('lgOtpCheck' in d.redis)) d.redis.defineCommand('lgOtpCheck', { numberOfKeys: 1, lua: CHECK });
    this.redis = d.redis as WithCheck;
    const { perPhone, perAddress } = d.policy;
    // "N per window" is a failure limiter whose attempts never succeed: the (N+1)th asks locks for one window.
    this.phoneLimiter = new FailureLimiter(d.redis, { ...perPhone, lockMs: perPhone.windowMs });
    this.addressLimiter = new FailureLimiter(d.redis, { ...perAddress, lockMs: perAddress.windowMs });
    // A key of its own, derived from the pickup-code key: one-time-code hashes can never match pickup-code hashes.
    this.key = createHmac('sha256', d.codeKey).update('resident-otp').digest();
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  private hash(phone: string, code: string): string {
    return createHmac('sha256', this.key).update(`${phone}|${code}`).digest('hex');
  }

  /** Text a new code to `phone` (replacing any earlier one), unless the phone or the address asked too often. */
  async requestCode(phone: string, client: string): Promise<CodeRequest> {
    const now = this.now();
    const k = this.d.k;
    const admitted: Attempt[] = [];
    for (const [scope, limiter, kind, id] of [
      ['address', this.addressLimiter, 'ip', client],
      ['phone', this.phoneLimiter, 'phone', phone],
    ] as const) {
      const a = await limiter.admit(k.otpRequests(kind, id), k.otpRequestLock(kind, id), now);
      if ('lockedMs' in a) {
        await Promise.all(admitted.map((x) => x.ok())); // refused: it does not count elsewhere
        this.d.logger.info('resident code refused: asked too often', { phone: maskPhone(phone), client, scope });
        return { ok: false, scope, retryAfterMs: a.lockedMs };
      }
      admitted.push(a);
    }
    const code = randomCode();
    const expiresAt = now + this.d.policy.codeTtlMs;
    const { lang } = await this.d.residents.prefs(phone);
    const notice: Notice = {
      id: `otp.${ulid(now).toLowerCase()}`,
      kind: 'otp',
      to: { sms: phone, lang },
      params: { code, minutes: Math.round(this.d.policy.codeTtlMs / 60_000) },
    };
    // The code and its text are written together: a code nobody was told about never exists, nor the reverse.
    await this.redis
      .multi()
      .del(k.otp(phone))
      .hset(k.otp(phone), 'h', this.hash(phone, code), 'exp', expiresAt, 'tries', 0)
      .pexpire(k.otp(phone), this.d.policy.codeTtlMs)
      .xadd(k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice))
      .exec();
    // Every code sent counts toward the limits (the limiter counts what is "failed"; the Nth locks at once).
    await Promise.all(admitted.map((a) => a.failed(now)));
    this.d.logger.info('resident code sent', { phone: maskPhone(phone), client });
    return { ok: true, expiresAt };
  }

  /** Check a code; the right one (once, in time, within its tries) gives a resident token. */
  async verify(phone: string, code: string): Promise<CodeCheck> {
    const [verdict, left] = await this.redis.lgOtpCheck(this.d.k.otp(phone), this.now(), this.hash(phone, code), this.d.policy.maxTries);
    if (verdict === 'wrong') {
      this.d.logger.info('resident code wrong', { phone: maskPhone(phone), triesLeft: Number(left) });
      return { ok: false, reason: 'wrong', triesLeft: Number(left) };
    }
    if (verdict !== 'ok') return { ok: false, reason: verdict as 'no_code' | 'expired' | 'used_up' };
    const now = this.now();
    const token = `${RESIDENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const expiresAt = now + this.d.policy.sessionMs;
    await this.redis.set(this.d.k.residentSession(sha256(token)), JSON.stringify({ phone, createdAt: now, expiresAt }), 'PX', this.d.policy.sessionMs);
    this.d.logger.info('resident signed in', { phone: maskPhone(phone) });
    return { ok: true, token, expiresAt };
  }

  /** The phone behind a resident token, while the token is valid. */
  async authenticate(token: string): Promise<{ phone: string; expiresAt: number } | null> {
    if (!token.startsWith(RESIDENT_TOKEN_PREFIX) || token.length > 100) return null;
    const raw = await this.redis.get(this.d.k.residentSession(sha256(token)));
    if (!raw) return null;
    const s = JSON.parse(raw) as { phone: string; expiresAt: number };
    return s.expiresAt > this.now() ? { phone: s.phone, expiresAt: s.expiresAt } : null;
  }

  async signOut(token: string): Promise<void> {
    await this.redis.del(this.d.k.residentSession(sha256(token)));
  }
}

