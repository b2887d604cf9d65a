/** Named staff: who they are, what they may do, and how they prove it. No I/O here. */
export const STAFF_ROLES = ['staff', 'admin'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

/** What `requireRole(role)` compares: an admin may do everything staff may. */
export const ROLE_RANK: Record<StaffRole, number> = { staff: 1, admin: 2 };

/** Names: letters (Chinese included), digits, `.`, `_`, `-`; 1 to 40. `bootstrap` is the development token's. */
export const STAFF_NAME_RE = /^[\p{L}\p{N}._-]{1,40}$/u;
export const BOOTSTRAP_NAME = 'bootstrap';

/** Passwords: 10 to 200 characters (the upper bound keeps one hash cheap enough). */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

/** scrypt parameters, stored with each hash so they can be raised later without invalidating old ones. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLen: number;
}

export interface PasswordHash extends ScryptParams {
  alg: 'scrypt';
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
}

export interface StaffMember {
  id: string;
  name: string;
  role: StaffRole;
  active: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What staffAuth puts in `c.var.staff`. */
export interface StaffIdentity {
  id: string;
  name: string;
  role: StaffRole;
}

/** The actor of a staff action, as the evidence log records it. */
export interface StaffActor {
  type: 'staff';
  id: string;
  name: string;
}

export const staffActor = (s: StaffIdentity): StaffActor => ({ type: 'staff', id: s.id, name: s.name });

/** The development bootstrap (STAFF_TOKEN): an admin named `bootstrap`, refused in production. */
export const BOOTSTRAP_IDENTITY: StaffIdentity = { id: BOOTSTRAP_NAME, name: BOOTSTRAP_NAME, role: 'admin' };

export interface StaffSession {
  memberId: string;
  createdAt: number;
  expiresAt: number;
  /** the per-session CSRF token that every form post must carry */
  csrf: string;
}

/** A member's API token for scripts; the token itself is shown once and stored only as SHA-256. */
export interface StaffToken {
  id: string;
  memberId: string;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** Normalised form of a name for uniqueness and lookups: `Wang` and `wang` are the same member. */
export const nameKey = (name: string) => name.normalize('NFKC').toLowerCase();

export function validName(name: string): boolean {
  return STAFF_NAME_RE.test(name) && nameKey(name) !== BOOTSTRAP_NAME;
}

export function validPassword(password: string): string | null {
  if (password.length < PASSWORD_MIN) return `at least ${PASSWORD_MIN} characters`;
  if (password.length > PASSWORD_MAX) return `at most ${PASSWORD_MAX} characters`;
  return null;
}
