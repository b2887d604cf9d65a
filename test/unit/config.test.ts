import { describe, expect, it } from 'vitest';
import { ConfigError, DEV_METRICS_TOKEN, parseConfig } from '../../src/config/config.js';
import { CredentialsError, parseCredentials } from '../../src/config/credentials.js';

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

  it('in production simulators are off unless asked for', () => {
    const prod = { NODE_ENV: 'production', CREDENTIALS_FILE: '/etc/lg/creds.json', STAFF_TOKEN: 'a-long-staff-token-0123' };
    expect(parseConfig(prod).SIMULATORS).toBe(false);
    expect(parseConfig({ ...prod, SIMULATORS: 'on' }).SIMULATORS).toBe(true);
    expect(() => parseConfig({ ...prod, STAFF_TOKEN: '' })).toThrow(/^invalid configuration: STAFF_TOKEN/);
  });
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
    const prod = parseConfig({ NODE_ENV: 'production', CREDENTIALS_FILE: '/etc/lg/creds.json', STAFF_TOKEN: 'a-long-staff-token-0123' });
    expect(prod.METRICS_TOKEN).toBeUndefined();
  });

  it.each([
    [{ METRICS_PORT: 'nine' }, 'METRICS_PORT'],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
  ])('refuses %j and names %s', (env, key) => {
    expect(() => parseConfig(env)).toThrow(new RegExp(`^invalid configuration: ${key}`));
  });
});
