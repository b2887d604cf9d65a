import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ConfigError, DEV_METRICS_TOKEN, DEV_STAFF_TOKEN, parseConfig } from '../../src/config/config.js';
import {
  CredentialsError,
  DEV_CREDENTIALS_FILE,
  DEV_SECRET_FINGERPRINTS,
  loadCredentials,
  parseCredentials,
  secretFingerprint,
  secretsOf,
} from '../../src/config/credentials.js';
import { staffTokenWeakness, tokenStrength } from '../../src/config/production.js';

describe('config', () => {
  it('has defaults for the default run: embedded broker on 1883, simulators on, dev credentials', () => {
    const c = parseConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.MQTT_URL).toBeUndefined();
    expect(c.MQTT_PORT).toBe(1883);
    expect(c.SIMULATORS).toBe(true);
    expect(c.credentialsFile).toMatch(/config\/credentials\.dev\.json$/);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
    [{ MQTT_URL: 'not a url' }, 'MQTT_URL'],
    [{ SIMULATORS: 'maybe' }, 'SIMULATORS'],
    [{ MQTT_PORT: '-1' }, 'MQTT_PORT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ REDIS_PREFIX: 'has space' }, 'REDIS_PREFIX'],
    [{ NODE_ENV: 'production' }, 'CREDENTIALS_FILE'],
    [{ MQTT_SHARE_GROUP: 'gw' }, 'MQTT_SHARE_GROUP'],
    [{ PROPERTY_WEBHOOK_URL: 'http://x.test/hook' }, 'PROPERTY_WEBHOOK_SECRET'],
    [{ TIME_ZONE: 'Mars/Base' }, 'TIME_ZONE'],
    [{ QUIET_HOURS: '22-8' }, 'QUIET_HOURS'],
    [{ REMINDER_HOURS: 'daily' }, 'REMINDER_HOURS'],
    [{ HOLD_HOURS: '0' }, 'HOLD_HOURS'],
  ])('refuses %j and names %s', (env, key) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(new RegExp(`^invalid configuration: ${key}`));
  });

  it('reads SIMULATORS=off and an external broker', () => {
    const c = parseConfig({ SIMULATORS: 'off', MQTT_URL: 'mqtt://broker.local:1883' });
    expect(c.SIMULATORS).toBe(false);
    expect(c.MQTT_URL).toBe('mqtt://broker.local:1883');
  });

  it('in production simulators are off, and texts need an SMS provider', () => {
    expect(parseConfig(PROD).SIMULATORS).toBe(false);
    expect(parseConfig({ ...PROD, SIMULATORS: 'off' }).SIMULATORS).toBe(false);
    expect(parseConfig(PROD).STAFF_TOKEN).toBe(PROD.STAFF_TOKEN);
  });
});

/** A production configuration that starts: every refusal below changes one thing in it. */
const PROD = {
  NODE_ENV: 'production',
  CREDENTIALS_FILE: '/etc/locker-gateway/credentials.json',
  STAFF_TOKEN: '5f0c2b9e8d7a61f3c4e2a9b8d7c6e5f41a2b3c4d5e6f708192a3b4c5d6e7f809',
  SMS_URL: 'https://sms.example.test/send',
};

describe('production refuses development secrets and unsafe settings, naming the setting', () => {
  it.each([
    ['the development credentials file', { CREDENTIALS_FILE: DEV_CREDENTIALS_FILE }, 'CREDENTIALS_FILE', /development copy/],
    ['the development credentials file by a relative path', { CREDENTIALS_FILE: relative(process.cwd(), DEV_CREDENTIALS_FILE) }, 'CREDENTIALS_FILE', /development copy/],
    ["the README's staff token", { STAFF_TOKEN: DEV_STAFF_TOKEN }, 'STAFF_TOKEN', /development token documented in the README/],
    ['16 times one letter', { STAFF_TOKEN: 'a'.repeat(16) }, 'STAFF_TOKEN', /too short for production: 16 characters, at least 32/],
    ['64 times one letter', { STAFF_TOKEN: 'a'.repeat(64) }, 'STAFF_TOKEN', /too predictable for production: 1 different characters, ~0 bits/],
    ['a repeated word', { STAFF_TOKEN: 'password'.repeat(4) }, 'STAFF_TOKEN', /too predictable/],
    ['a short cycle of letters', { STAFF_TOKEN: 'abcd'.repeat(10) }, 'STAFF_TOKEN', /too predictable/],
    ['SIMULATORS=on', { SIMULATORS: 'on' }, 'SIMULATORS', /must be off in production/],
    ['no SMS_URL (texts to the console)', { SMS_URL: '' }, 'SMS_URL', /console log.*pickup codes/],
  ])('refuses %s (%j), naming %s', (_what, change, key, why) => {
    const run = () => parseConfig({ ...PROD, ...change });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(new RegExp(`^invalid configuration: ${key}: `));
    expect(run).toThrow(why);
  });

  it('names every problem at once', () => {
    expect(() => parseConfig({ NODE_ENV: 'production', STAFF_TOKEN: 'x'.repeat(20), SIMULATORS: 'on' })).toThrow(
      /^invalid configuration: CREDENTIALS_FILE: .*; STAFF_TOKEN: .*; SIMULATORS: .*; SMS_URL: /,
    );
  });

  it('keeps development and test as they were (the development token and file, simulators on)', () => {
    for (const NODE_ENV of ['development', 'test']) {
      const c = parseConfig({ NODE_ENV, STAFF_TOKEN: 'a'.repeat(16), SIMULATORS: 'on' });
      expect(c.SIMULATORS).toBe(true);
      expect(c.STAFF_TOKEN).toBe('a'.repeat(16));
      expect(parseConfig({ NODE_ENV }).STAFF_TOKEN).toBe(DEV_STAFF_TOKEN);
    }
  });

  it('accepts random tokens as an operator makes them', () => {
    expect(staffTokenWeakness(PROD.STAFF_TOKEN)).toBeNull(); // openssl rand -hex 32
    expect(staffTokenWeakness('J8v2kQ0xW5zR7mN3pL9sT1yU4hC6bD+e/FgAaIiOo=')).toBeNull(); // openssl rand -base64 32
    expect(staffTokenWeakness('9f86d081884c7d659a2feaa0c55ad015')).toBeNull(); // 32 hex digits, the minimum
    expect(tokenStrength('a'.repeat(16))).toEqual({ length: 16, distinct: 1, bits: 0 });
  });
});

describe('production refuses the development credentials by content', () => {
  const dev = readFileSync(DEV_CREDENTIALS_FILE, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'lg-creds-'));
  const own = JSON.stringify({
    gateway: { username: 'locker-gateway', password: 'a-password-of-our-own', codeKeyHex: '11'.repeat(32) },
    units: { 'LSN-0001': { password: 'unit-password-own', keyHex: '22'.repeat(32) } },
  });

  it('the built-in fingerprints are those of config/credentials.dev.json', () => {
    const fromFile = secretsOf(parseCredentials(dev, 'dev')).map((s) => secretFingerprint(s.value));
    expect([...fromFile].sort()).toEqual([...DEV_SECRET_FINGERPRINTS].sort());
  });

  it('refuses the same content through CREDENTIALS_JSON, a copied file and a symlink, naming the setting', () => {
    expect(() => loadCredentials({ json: dev, production: true })).toThrow(/^CREDENTIALS_JSON: holds secrets of the development credentials/);
    const copy = join(dir, 'copy.json');
    writeFileSync(copy, dev);
    expect(() => loadCredentials({ file: copy, production: true })).toThrow(new RegExp(`^CREDENTIALS_FILE \\(${copy}\\): holds secrets`));
    const link = join(dir, 'link.json');
    symlinkSync(DEV_CREDENTIALS_FILE, link);
    expect(() => loadCredentials({ file: link, production: true })).toThrow(/^CREDENTIALS_FILE: .* is the development copy/);
    // development reads the same content as before
    expect(loadCredentials({ json: dev }).gateway.username).toBe('locker-gateway');
  });

  it('refuses one development key pasted into otherwise new credentials, naming it; upper-case hex is the same key', () => {
    const mixed = JSON.parse(own) as { units: Record<string, { keyHex: string }> };
    const devKey = (JSON.parse(dev) as { units: Record<string, { keyHex: string }> }).units['LSN-0001']!.keyHex;
    mixed.units['LSN-0001']!.keyHex = devKey.toUpperCase();
    expect(() => loadCredentials({ json: JSON.stringify(mixed), production: true })).toThrow(
      /CREDENTIALS_JSON: holds secrets of the development credentials \(credentials\.units\.LSN-0001\.keyHex\)/,
    );
  });

  it('accepts credentials of its own', () => {
    expect(loadCredentials({ json: own, production: true }).gateway.password).toBe('a-password-of-our-own');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});

describe('credentials', () => {
  it('names the bad key', () => {
    const bad = JSON.stringify({ gateway: { username: 'g', password: 'short' }, units: {} });
    expect(() => parseCredentials(bad, 'CREDENTIALS_JSON')).toThrow(CredentialsError);
    expect(() => parseCredentials(bad, 'CREDENTIALS_JSON')).toThrow(/credentials\.gateway\.password/);
    expect(() => parseCredentials('{', 'CREDENTIALS_JSON')).toThrow(/not valid JSON/);
    const badKey = JSON.stringify({
      gateway: { username: 'g', password: 'long enough' },
      units: { X: { password: 'long enough', keyHex: 'zz' } },
    });
    expect(() => parseCredentials(badKey, 'f')).toThrow(/credentials\.units\.X\.keyHex/);
  });
});

describe('config: running it (own redis-server, metrics)', () => {
  it('without REDIS_URL the gateway runs a redis-server of its own in data/redis; metrics have a development token only', () => {
    const c = parseConfig({});
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.REDIS_DATA_DIR).toBe('data/redis');
    expect(c.REDIS_SERVER).toBe('redis-server');
    expect(c.METRICS_TOKEN).toBe(DEV_METRICS_TOKEN);
    expect(c.METRICS_PORT).toBeUndefined();
    expect(parseConfig(PROD).METRICS_TOKEN).toBeUndefined();
    expect(() => parseConfig({ ...PROD, METRICS_TOKEN: DEV_METRICS_TOKEN })).toThrow(/METRICS_TOKEN: is the development token documented in the README/);
  });

  it.each([
    [{ METRICS_PORT: 'nine' }, 'METRICS_PORT'],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
  ])('refuses %j and names %s', (env, key) => {
    expect(() => parseConfig(env)).toThrow(new RegExp(`^invalid configuration: ${key}`));
  });
});

describe('config: ROLE (processes on one machine)', () => {
  const R = { REDIS_URL: 'redis://127.0.0.1:6379' };
  it('defaults to all (one process, simulators as before)', () => {
    const c = parseConfig({});
    expect(c.ROLE).toBe('all');
    expect(c.SIMULATORS).toBe(true);
  });

  it('gateway and workers need REDIS_URL; simulators are off unless asked for, and then refused', () => {
    for (const ROLE of ['gateway', 'workers']) {
      expect(parseConfig({ ...R, ROLE }).SIMULATORS).toBe(false);
      expect(() => parseConfig({ ROLE })).toThrow(new RegExp(`REDIS_URL: required with ROLE=${ROLE}`));
      expect(() => parseConfig({ ...R, ROLE, SIMULATORS: 'on' })).toThrow(/SIMULATORS: must be off with ROLE=/);
    }
  });

  it('workers with UNIT_LEASES=on need no MQTT_URL (they serve no unit)', () => {
    const c = parseConfig({ ...R, ROLE: 'workers', UNIT_LEASES: 'on', GATEWAY_ID: 'w1' });
    expect(c.MQTT_CLIENT_ID).toBe('lg-w1');
    expect(() => parseConfig({ ...R, ROLE: 'gateway', UNIT_LEASES: 'on' })).toThrow(/MQTT_URL: required with UNIT_LEASES=on/);
  });

  it('refuses an unknown role and names ROLE', () => {
    expect(() => parseConfig({ ROLE: 'relay' })).toThrow(/^invalid configuration: ROLE: /);
  });
});
