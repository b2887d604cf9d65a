import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

export function loadCredentials(opts: { file?: string | undefined; json?: string | undefined }): Credentials {
  if (opts.json) return parseCredentials(opts.json, 'CREDENTIALS_JSON');
  if (!opts.file) throw new CredentialsError('CREDENTIALS_FILE: no credentials file given');
  let raw: string;
  try {
    raw = readFileSync(opts.file, 'utf8');
  } catch (e) {
    throw new CredentialsError(`CREDENTIALS_FILE: cannot read ${opts.file} (${(e as Error).message})`);
  }
  return parseCredentials(raw, `CREDENTIALS_FILE (${opts.file})`);
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
