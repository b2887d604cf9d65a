import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * Broker passwords and command-signing keys. In development they live in config/credentials.dev.json (documented
 * in the README); in production the operator provides CREDENTIALS_FILE or CREDENTIALS_JSON.
 */
const hexKey = z
  .string()
  .regex(/^([0-9a-fA-F]{2}){16,64}$/, 'must be 16 to 64 bytes of hex');

export const CredentialsSchema = z.object({
  gateway: z.object({
    username: z.string().min(1),
    password: z.string().min(8),
    /**
     * Key for hashing pickup codes (they are stored and logged only as keyed hashes). Optional in the schema so
     * broker-only tools can read the file; the gateway refuses to start without it.
     */
    codeKeyHex: hexKey.optional(),
  }),
  units: z.record(
    z.string(),
    z.object({
      password: z.string().min(8),
      /** HMAC key for dialects that sign commands; null for frame-485, which has none. */
      keyHex: hexKey.nullable(),
    }),
  ),
});
export type Credentials = z.infer<typeof CredentialsSchema>;

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

function describe(err: z.ZodError, origin: string): string {
  return err.issues.map((i) => `${origin}: ${['credentials', ...i.path].join('.')}: ${i.message}`).join('; ');
}

export function parseCredentials(raw: string, origin: string): Credentials {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new CredentialsError(`${origin}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = CredentialsSchema.safeParse(json);
  if (!parsed.success) throw new CredentialsError(describe(parsed.error, origin));
  return parsed.data;
}

export function loadCredentials(opts: { file?: string | undefined; json?: string | undefined; production?: boolean }): Credentials {
  let creds: Credentials;
  let origin: string;
  if (opts.json) {
    origin = 'CREDENTIALS_JSON';
    creds = parseCredentials(opts.json, origin);
  } else {
    if (!opts.file) throw new CredentialsError('CREDENTIALS_FILE: no credentials file given');
    if (opts.production && isDevCredentialsFile(opts.file)) throw new CredentialsError(devFileRefusal(opts.file));
    let raw: string;
    try {
      raw = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new CredentialsError(`CREDENTIALS_FILE: cannot read ${opts.file} (${(e as Error).message})`);
    }
    origin = `CREDENTIALS_FILE (${opts.file})`;
    creds = parseCredentials(raw, origin);
  }
  if (opts.production) refuseDevSecrets(creds, origin);
  return creds;
}

export function unitKey(creds: Credentials, unitId: string): Buffer | null {
  const hex = creds.units[unitId]?.keyHex;
  return hex ? Buffer.from(hex, 'hex') : null;
}

/** The project's root: the nearest folder above this module with a package.json (the same from src/ and dist/src/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const DEV_CREDENTIALS_FILE = join(projectRoot(), 'config', 'credentials.dev.json');

// ---- production: the development credentials are published, never let them drive real units ----

/**
 * SHA-256 of every secret in config/credentials.dev.json (hex keys in lower case). The file is in the repository,
 * so its secrets are public: production refuses credentials that hold any of them, whichever file or variable they
 * come from (a renamed copy, CREDENTIALS_JSON with the same content, one key pasted into otherwise new credentials).
 * Kept here as well as read from the file, so a deployment without the file is still checked;
 * test/unit/config.test.ts proves the list matches the file.
 */
export const DEV_SECRET_FINGERPRINTS: readonly string[] = [
  '271a9dbffdb69f6fb98fa6107d7ba4767dd727def9ae334bce99d1f4af6e5440',
  'ce207acde3e5d176e4c284229248ee9f4c6086eea56d538ffdfb82a31d800581',
  '34a6beb48febd2e3d0fe2743b835f3444546157151b23dde308e63cd068b673f',
  '2a9c4fe22d2029561200712dd27bd40c462634962c3331504e58c19d7b855d35',
  'c8f11d3baef020870ef45655814072645bb4eee0d1b28ec79879f241d435c0fa',
  '69eb42f94472b550082f05eed2549236617d232a628787260151866ab857384a',
  '5541bd58090b2508145bb45bb78da669c7fc91109ed3ba9b7573c8490a0cd8d4',
];

export const secretFingerprint = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Every secret of a credentials set, named by its path (hex keys in lower case: the same key however written). */
export function secretsOf(creds: Credentials): { path: string; value: string }[] {
  const out = [{ path: 'credentials.gateway.password', value: creds.gateway.password }];
  if (creds.gateway.codeKeyHex) out.push({ path: 'credentials.gateway.codeKeyHex', value: creds.gateway.codeKeyHex.toLowerCase() });
  for (const [id, u] of Object.entries(creds.units)) {
    out.push({ path: `credentials.units.${id}.password`, value: u.password });
    if (u.keyHex) out.push({ path: `credentials.units.${id}.keyHex`, value: u.keyHex.toLowerCase() });
  }
  return out;
}

function devFingerprints(): Set<string> {
  const all = new Set(DEV_SECRET_FINGERPRINTS);
  try {
    const dev = parseCredentials(readFileSync(DEV_CREDENTIALS_FILE, 'utf8'), 'dev');
    for (const s of secretsOf(dev)) all.add(secretFingerprint(s.value));
  } catch {
    // no development file in this deployment: the list above still applies
  }
  return all;
}

/** Production: refuse credentials holding any secret of the published development file, naming where. */
export function refuseDevSecrets(creds: Credentials, origin: string): void {
  const dev = devFingerprints();
  const found = secretsOf(creds).filter((s) => dev.has(secretFingerprint(s.value)));
  if (found.length) {
    throw new CredentialsError(
      `${origin}: holds secrets of the development credentials (${found.map((s) => s.path).join(', ')}), which are ` +
        'published with the code in config/credentials.dev.json; production needs credentials of its own',
    );
  }
}

/** Whether `file` is config/credentials.dev.json itself (also through a symlink or a relative path). */
export function isDevCredentialsFile(file: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(file) === real(DEV_CREDENTIALS_FILE);
}

export function devFileRefusal(file: string): string {
  return `CREDENTIALS_FILE: ${file} is the development copy (config/credentials.dev.json, published with the code); production needs credentials of its own`;
}
