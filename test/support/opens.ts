import { ConfigSchema } from '../../src/config/config.js';
import { STAFF, type ParcelWorld } from './parcels.js';

/**
 * The open guard's settings at their defaults, as environment strings: the open tests prove the defaults (the shared
 * Stack sets generous limits for everyone else's tests, which open doors in bulk).
 */
export function defaultOpenLimits(): Record<string, string> {
  const d = ConfigSchema.parse({});
  return {
    OPEN_RATE_PER_UNIT_PER_MIN: String(d.OPEN_RATE_PER_UNIT_PER_MIN),
    OPEN_RATE_FLEET_PER_MIN: String(d.OPEN_RATE_FLEET_PER_MIN),
    LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN: String(d.LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN),
    LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN: String(d.LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN),
  };
}

export interface Member {
  id: string;
  name: string;
  role: 'staff' | 'admin';
  /** `Authorization: Bearer lgs_…`, the member's API token (what a script uses) */
  auth: Record<string, string>;
}

let n = 0;

/** A named staff member with an API token, made by the development bootstrap admin. */
export async function member(world: ParcelWorld, role: 'staff' | 'admin'): Promise<Member> {
  const name = `${role}${process.pid % 1000}x${++n}`;
  const m = await world.request('POST', '/v1/admin/staff', { name, role, password: 'correct horse battery' }, STAFF);
  if (m.status !== 201) throw new Error(`member not added: ${m.status} ${JSON.stringify(m.body)}`);
  const t = await world.request('POST', `/v1/admin/staff/${m.body.id}/tokens`, { label: 'script' }, STAFF);
  if (t.status !== 201) throw new Error(`token not issued: ${t.status} ${JSON.stringify(t.body)}`);
  return { id: m.body.id, name, role, auth: { authorization: `Bearer ${t.body.token}` } };
}
