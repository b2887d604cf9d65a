import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ulid } from '../domain/ids.js';
import type { Lang } from '../domain/parcel.js';
import type { Keys } from '../store/keys.js';
import type { Read } from '../store/reads.js';

export interface Courier {
  id: string;
  name: string;
  carrier: string;
  webhookUrl: string | null;
  webhookSecret: string | null;
  active: boolean;
  createdAt: number;
}

/** Bearer tokens are random (256 bits) and stored only as SHA-256: a leaked database does not leak tokens. */
const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

export class Couriers {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
  ) {}

  async issue(input: { name: string; carrier: string; webhookUrl?: string | null; webhookSecret?: string | null }): Promise<{ courier: Courier; token: string }> {
    const courier: Courier = {
      id: `c_${ulid().toLowerCase()}`,
      name: input.name,
      carrier: input.carrier,
      webhookUrl: input.webhookUrl ?? null,
      webhookSecret: input.webhookSecret ?? null,
      active: true,
      createdAt: Date.now(),
    };
    const token = `lgc_${randomBytes(32).toString('base64url')}`;
    await this.redis
      .multi()
      .set(this.k.courier(courier.id), JSON.stringify({ ...courier, tokenHash: tokenHash(token) }))
      .set(this.k.courierToken(tokenHash(token)), courier.id)
      .sadd(this.k.couriers, courier.id)
      .exec();
    return { courier, token };
  }

  async get(id: string): Promise<Courier | null> {
    return Couriers.decode(await this.redis.get(this.k.courier(id)));
  }

  /** A courier from its stored record (the key `courier:<id>`, read elsewhere too: a door step's read), or null. */
  static decode(raw: string | null): Courier | null {
    if (!raw) return null;
    const { tokenHash: _t, ...c } = JSON.parse(raw) as Courier & { tokenHash: string };
    return c;
  }

  async list(): Promise<Courier[]> {
    const ids = await this.redis.smembers(this.k.couriers);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((c): c is Courier => c !== null).sort((a, b) => a.createdAt - b.createdAt);
  }

  async authenticate(token: string): Promise<Courier | null> {
    if (!token.startsWith('lgc_') || token.length > 100) return null;
    const id = await this.redis.get(this.k.courierToken(tokenHash(token)));
    if (!id) return null;
    const c = await this.get(id);
    return c?.active ? c : null;
  }

  async revoke(id: string): Promise<boolean> {
    const raw = await this.redis.get(this.k.courier(id));
    if (!raw) return false;
    const c = JSON.parse(raw) as Courier & { tokenHash: string };
    await this.redis
      .multi()
      .set(this.k.courier(id), JSON.stringify({ ...c, active: false }))
      .del(this.k.courierToken(c.tokenHash))
      .exec();
    return true;
  }
}

export type Consent = 'allowed' | 'refused';

export interface ResidentPrefs {
  lowCompartment: boolean;
  lang: Lang;
  /** locker delivery needs the recipient's consent; unset = allowed (the community's default notice) */
  consent: Consent;
  updatedAt: number | null;
}

export const DEFAULT_PREFS: ResidentPrefs = { lowCompartment: false, lang: 'zh', consent: 'allowed', updatedAt: null };

const decodePrefs = (raw: string | null): ResidentPrefs => (raw ? { ...DEFAULT_PREFS, ...(JSON.parse(raw) as Partial<ResidentPrefs>) } : DEFAULT_PREFS);

export class Residents {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
  ) {}

  async prefs(phone: string): Promise<ResidentPrefs> {
    return decodePrefs(await this.redis.get(this.k.resident(phone)));
  }

  /** prefs(), as a read that can share a pipeline (store/reads.ts). */
  prefsRead(phone: string): Read<ResidentPrefs> {
    return { n: 1, add: (pipe) => pipe.get(this.k.resident(phone)), decode: ([raw]) => decodePrefs(raw as string | null) };
  }

  async setPrefs(phone: string, change: Partial<Omit<ResidentPrefs, 'updatedAt'>>, now = Date.now()): Promise<ResidentPrefs> {
    const next = { ...(await this.prefs(phone)), ...change, updatedAt: now };
    await this.redis.set(this.k.resident(phone), JSON.stringify(next));
    return next;
  }
}
