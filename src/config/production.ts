import { devFileRefusal, isDevCredentialsFile } from './credentials.js';

/**
 * What production refuses to start with, beyond the schema: the development secrets, a guessable staff token,
 * the simulators, and texts to the console (which would put the residents' pickup codes in the logs).
 * Each problem names its setting; all of them are reported at once.
 */

/** The staff token the README documents for development (anyone who read the README knows it). */
export const DEV_STAFF_TOKEN = 'dev-staff-token-not-for-production';

/** The metrics token the README documents for development. */
export const DEV_METRICS_TOKEN = 'dev-metrics-token-not-for-production';

export const STAFF_TOKEN_RULES = { minLength: 32, minDistinct: 10, minBits: 96 } as const;

/**
 * A rough strength estimate of a token: its length times the Shannon entropy of its own characters. It is not a
 * measure of how it was made (a random `openssl rand -hex 32` scores ~250 bits, 32 random hex digits ~110), but it
 * tells one letter repeated (0 bits), `passwordpassword…` (~88) or `abcdabcd…` (64) from a random string.
 */
export function tokenStrength(token: string): { length: number; distinct: number; bits: number } {
  const chars = [...token];
  const counts = new Map<string, number>();
  for (const ch of chars) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return { length: chars.length, distinct: counts.size, bits: Math.round(chars.length * perChar) };
}

/** Why `token` is too weak to guard the staff routes in production, or null if it is not. */
export function staffTokenWeakness(token: string): string | null {
  if (token === DEV_STAFF_TOKEN) return 'is the development token documented in the README';
  const s = tokenStrength(token);
  const r = STAFF_TOKEN_RULES;
  if (s.length < r.minLength) return `too short for production: ${s.length} characters, at least ${r.minLength}`;
  if (s.distinct < r.minDistinct || s.bits < r.minBits) {
    return `too predictable for production: ${s.distinct} different characters, ~${s.bits} bits (at least ${r.minDistinct} and ${r.minBits})`;
  }
  return null;
}

export interface ProductionView {
  CREDENTIALS_FILE?: string | undefined;
  STAFF_TOKEN?: string | undefined;
  SIMULATORS: boolean;
  SMS_URL?: string | undefined;
  METRICS_TOKEN?: string | undefined;
}

/** Every reason this production configuration must not start, each beginning with its setting's name. */
export function productionProblems(cfg: ProductionView, simulatorsAskedFor: boolean): string[] {
  const problems: string[] = [];
  if (cfg.CREDENTIALS_FILE && isDevCredentialsFile(cfg.CREDENTIALS_FILE)) problems.push(devFileRefusal(cfg.CREDENTIALS_FILE));
  // Named staff sign in (npm run staff -- add); the API refuses STAFF_TOKEN in production. It need not be set, but a
  // weak or documented one is refused outright: it would be one configuration change away from guarding staff routes.
  if (cfg.STAFF_TOKEN) {
    const weak = staffTokenWeakness(cfg.STAFF_TOKEN);
    if (weak) problems.push(`STAFF_TOKEN: ${weak}; leave it unset in production (create the first admin with \`npm run staff -- add --name NAME --role admin\`)`);
  }
  if (cfg.SIMULATORS && simulatorsAskedFor) {
    problems.push('SIMULATORS: must be off in production (simulated units and /dev/sims never run next to real units)');
  }
  if (cfg.METRICS_TOKEN === DEV_METRICS_TOKEN) problems.push('METRICS_TOKEN: is the development token documented in the README');
  if (!cfg.SMS_URL) {
    problems.push(
      'SMS_URL: required in production; without it texts go to the console log, and with them the residents’ pickup codes',
    );
  }
  return problems;
}
