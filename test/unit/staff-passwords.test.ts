import { describe, expect, it } from 'vitest';
import { hashPassword, needsRehash, verifyPassword } from '../../src/staff/passwords.js';
import { nameKey, validName, validPassword } from '../../src/staff/types.js';

const CHEAP = { N: 1024, r: 8, p: 1, keyLen: 32 };

describe('staff passwords and names', () => {
  it('hashes with a fresh salt and the parameters stored, and verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery', CHEAP);
    const b = await hashPassword('correct horse battery', CHEAP);
    expect(a).toMatchObject({ alg: 'scrypt', ...CHEAP });
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    // the same password typed in another Unicode form (NFKC) is the same password
    expect(await verifyPassword('ｃorrect horse battery', a)).toBe(true);
  });

  it('asks for a re-hash when the stored parameters are weaker than the current ones', async () => {
    const old = await hashPassword('correct horse battery', CHEAP);
    expect(needsRehash(old, CHEAP)).toBe(false);
    expect(needsRehash(old, { ...CHEAP, N: 2048 })).toBe(true);
    expect(needsRehash(old, { ...CHEAP, p: 3 })).toBe(true);
  });

  it('accepts Chinese names, refuses odd ones and `bootstrap`, and sizes passwords', () => {
    expect(validName('张主任')).toBe(true);
    expect(validName('li.si-2')).toBe(true);
    expect(validName('two words')).toBe(false);
    expect(validName('')).toBe(false);
    expect(validName('Bootstrap')).toBe(false);
    expect(nameKey('WANG')).toBe(nameKey('wang'));
    expect(validPassword('short')).toMatch(/at least 10/);
    expect(validPassword('x'.repeat(201))).toMatch(/at most 200/);
    expect(validPassword('a long password')).toBeNull();
  });
});
