/**
 * Who may connect to the MQTT broker and what each principal may publish and subscribe to. Pure rules, no I/O:
 * the embedded aedes broker (embedded.ts) applies them at run time and the Mosquitto generator (mosquitto.ts)
 * turns the same tables into an acl file, so both brokers enforce one policy.
 *
 * Topics and client ids are the vendors' (shared/protocol/*.md):
 *   json-v1     client id {sn}           publishes lockers/{sn}/presence|state|events|replies  reads lockers/{sn}/commands
 *   compact-v2  client id cab-{mac}      publishes cab/{mac}/up                                reads cab/{mac}/down
 *   frame-485   client id dtu-{imei}     publishes dtu/{imei}/rx, dtu/{imei}/state             reads dtu/{imei}/tx
 * The gateway alone publishes the device-bound topics (frame-485 has no command signature: whoever can publish to
 * dtu/{imei}/tx can open every door) and publishes nothing a unit publishes, so it can never forge a unit's event.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Credentials } from '../config/credentials.js';
import type { Dialect, UnitProfile } from '../domain/model.js';

export type Principal = { kind: 'gateway' } | { kind: 'unit'; unit: UnitProfile };

/** Device-bound topics, as MQTT filters: only the gateway may publish to topics they match. */
export const GATEWAY_PUBLISH_PATTERNS: readonly string[] = ['lockers/+/commands', 'cab/+/down', 'dtu/+/tx'];

/** First topic levels under which the gateway may subscribe (any filter below them, wildcards allowed). */
export const GATEWAY_SUBSCRIBE_ROOTS: readonly string[] = ['lockers', 'cab', 'dtu'];

const SHARE_PREFIX = '$share/';

/** The client id the vendor's firmware uses; the broker accepts a unit only under this id. */
export function unitClientId(unit: Pick<UnitProfile, 'id' | 'dialect'>): string {
  switch (unit.dialect) {
    case 'json-v1':
      return unit.id;
    case 'compact-v2':
      return `cab-${unit.id}`;
    case 'frame-485':
      return `dtu-${unit.id}`;
  }
}

/** Topics the unit publishes (unit → gateway). Exact topics, no wildcards. */
export function unitPublishTopics(unit: Pick<UnitProfile, 'id' | 'dialect'>): string[] {
  const id = unit.id;
  switch (unit.dialect) {
    case 'json-v1':
      return ['presence', 'state', 'events', 'replies'].map((t) => `lockers/${id}/${t}`);
    case 'compact-v2':
      return [`cab/${id}/up`];
    case 'frame-485':
      return [`dtu/${id}/rx`, `dtu/${id}/state`];
  }
}

/** The one topic the unit may subscribe to: its own commands (gateway → unit). */
export function unitCommandTopic(unit: Pick<UnitProfile, 'id' | 'dialect'>): string {
  const id = unit.id;
  const byDialect: Record<Dialect, string> = {
    'json-v1': `lockers/${id}/commands`,
    'compact-v2': `cab/${id}/down`,
    'frame-485': `dtu/${id}/tx`,
  };
  return byDialect[unit.dialect];
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'no-username' | 'unknown-user' | 'bad-password' | 'wrong-client-id' };

/** sha256 both sides so timingSafeEqual gets equal lengths and the comparison leaks neither content nor length. */
function passwordMatches(expected: string, given: Buffer | string | undefined): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256')
    .update(given === undefined ? '' : given)
    .digest();
  // Compare even when no password was given, so the time taken does not tell whether the user exists.
  return timingSafeEqual(a, b) && given !== undefined;
}

/** authenticate() with the reason for a refusal, for the broker's log. Never logs or returns the password. */
export function authenticateDetailed(
  creds: Credentials,
  units: readonly UnitProfile[],
  clientId: string,
  username: string | undefined,
  password: Buffer | string | undefined,
): AuthResult {
  if (!username) return { ok: false, reason: 'no-username' };
  if (username === creds.gateway.username) {
    // Any client id (the gateway may run several instances, locker-gateway-<random>), except a unit's: connecting
    // under it would take the unit's session over and cut the unit off.
    if (!passwordMatches(creds.gateway.password, password)) return { ok: false, reason: 'bad-password' };
    if (units.some((u) => unitClientId(u) === clientId)) return { ok: false, reason: 'wrong-client-id' };
    return { ok: true, principal: { kind: 'gateway' } };
  }
  const unit = units.find((u) => u.id === username);
  const entry = unit ? creds.units[unit.id] : undefined;
  if (!unit || !entry) {
    passwordMatches('unknown-user-dummy-password', password); // same work as for a known user
    return { ok: false, reason: 'unknown-user' };
  }
  if (!passwordMatches(entry.password, password)) return { ok: false, reason: 'bad-password' };
  if (clientId !== unitClientId(unit)) return { ok: false, reason: 'wrong-client-id' };
  return { ok: true, principal: { kind: 'unit', unit } };
}

export function authenticate(
  creds: Credentials,
  units: readonly UnitProfile[],
  clientId: string,
  username: string | undefined,
  password: Buffer | string | undefined,
): Principal | null {
  const r = authenticateDetailed(creds, units, clientId, username, password);
  return r.ok ? r.principal : null;
}

/** A topic name valid for PUBLISH: non-empty, no wildcards, no NUL. */
function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !/[+#]/.test(topic) && !topic.includes('\u0000');
}

/** A filter valid for SUBSCRIBE: `+` only as a whole level, `#` only as the whole last level. */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => {
    if (l.includes('#')) return l === '#' && i === levels.length - 1;
    if (l.includes('+')) return l === '+';
    return true;
  });
}

/** MQTT matching of a topic name against a filter (used here only with our own, literal-first-level patterns). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const fl = f[i];
    if (fl === '#') return true;
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}

export function canPublish(p: Principal, topic: string): boolean {
  if (!isValidTopicName(topic)) return false;
  if (p.kind === 'unit') return unitPublishTopics(p.unit).includes(topic);
  return GATEWAY_PUBLISH_PATTERNS.some((pattern) => topicMatches(pattern, topic));
}

/**
 * Splits `$share/{group}/{filter}` into its parts; null for a malformed shared subscription. A filter without the
 * prefix is returned as is.
 */
export function parseShared(filter: string): { group: string | null; filter: string } | null {
  if (!filter.startsWith(SHARE_PREFIX)) return { group: null, filter };
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const group = rest.slice(0, slash);
  const inner = rest.slice(slash + 1);
  if (/[+#]/.test(group) || inner.length === 0) return null;
  return { group, filter: inner };
}

export function canSubscribe(p: Principal, filter: string): boolean {
  if (p.kind === 'unit') {
    // Exactly its own command topic: no wildcards, no shared subscription.
    return filter === unitCommandTopic(p.unit);
  }
  const shared = parseShared(filter);
  if (!shared || !isValidFilter(shared.filter)) return false;
  const levels = shared.filter.split('/');
  // The first level must be one of the roots literally (so not `#`, `+/…` or `$SYS/…`), and there must be
  // something below it.
  return levels.length >= 2 && GATEWAY_SUBSCRIBE_ROOTS.includes(levels[0] ?? '');
}
