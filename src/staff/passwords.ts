import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { PasswordHash, ScryptParams } from './types.js';

/**
 * Password hashes with node's scrypt: a random 16-byte salt per member, the parameters stored beside the hash.
 * N = 2^15, r = 8, p = 3 is one of OWASP's scrypt settings (Password Storage Cheat Sheet): 32 MiB per hash, so a
 * few logins at once do not strain a small gateway box, at the cost of three passes (~0.3 s on an idle core).
 * Raise DEFAULT_SCRYPT later and members are re-hashed at their next login (needsRehash).
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 3, keyLen: 32 };

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; node's default cap (32 MiB) is exactly N = 2^15, r = 8: leave room.
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, params.keyLen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, params);
  return { alg: 'scrypt', ...params, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (stored.alg !== 'scrypt') return false;
  const expected = Buffer.from(stored.hash, 'base64');
  const got = await derive(password, Buffer.from(stored.salt, 'base64'), stored);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Whether a hash was made with weaker parameters than `params` (re-hash it at the next successful login). */
export function needsRehash(stored: PasswordHash, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  return stored.N < params.N || stored.r < params.r || stored.p < params.p || stored.keyLen < params.keyLen;
}
