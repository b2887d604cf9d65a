import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { ConfigError, parseConfig } from '../../src/config/config.js';
import { loadUnits, parseUnits } from '../../src/config/units-file.js';

const dir = mkdtempSync(join(tmpdir(), 'lg-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const unit = (over: Record<string, unknown> = {}) => ({
  id: 'LSN-0100',
  site: 'test-site',
  siteName: { zh: '测试', en: 'Test' },
  dialect: 'json-v1',
  compartments: [
    { no: 1, size: 'S' },
    { no: 2, size: 'M' },
  ],
  location: { lat: 31.39, lng: 120.97 },
  ...over,
});

function refusal(text: string): string {
  try {
    parseUnits(text, 'units.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('UNITS_FILE', () => {
  it('unset: the three real units of devices/units.ts', () => {
    expect(loadUnits(undefined)).toBe(UNITS);
  });

  it('reads a JSON array of unit profiles (the shape of UnitProfile), low compartments included', () => {
    const path = join(dir, 'units.json');
    writeFileSync(path, JSON.stringify([unit({ low: [2] }), unit({ id: 'a4c138f0e2ff', dialect: 'compact-v2' })]));
    const units = loadUnits(path);
    expect(units.map((u) => u.id)).toEqual(['LSN-0100', 'a4c138f0e2ff']);
    expect(units[0]!.low).toEqual([2]);
    // the real units, written out, read back the same
    writeFileSync(path, JSON.stringify(UNITS));
    expect(loadUnits(path)).toEqual(UNITS);
  });

  it.each([
    ['not JSON', '[{', /UNITS_FILE: units\.json is not JSON/],
    ['empty', '[]', /UNITS_FILE: units\.json: \(file\): at least one unit/],
    ['a bad size', JSON.stringify([unit({ compartments: [{ no: 1, size: 'XXL' }] })]), /UNITS_FILE: units\.json: \[0\]\.compartments\[0\]\.size/],
    ['an unknown dialect', JSON.stringify([unit({ dialect: 'modbus' })]), /\[0\]\.dialect/],
    ['a topic-breaking id', JSON.stringify([unit({ id: 'a/b' })]), /\[0\]\.id: letters, digits/],
    ['a unit twice', JSON.stringify([unit(), unit()]), /\[1\]\.id: unit LSN-0100 listed twice/],
    ['a compartment twice', JSON.stringify([unit({ compartments: [{ no: 1, size: 'S' }, { no: 1, size: 'M' }] })]), /\[0\]\.compartments\[1\]\.no: compartment 1 listed twice/],
    ['frame-485 beyond its boards', JSON.stringify([unit({ dialect: 'frame-485', compartments: [{ no: 25, size: 'S' }] })]), /\[0\]\.compartments\[0\]\.no: frame-485 units have compartments 1–24/],
    ['a low compartment it does not have', JSON.stringify([unit({ low: [9] })]), /\[0\]\.low\[0\]: unit has no compartment 9/],
    ['an unknown field', JSON.stringify([unit({ colour: 'red' })]), /\[0\]: Unrecognized key/],
  ])('refuses %s, naming the key and the field', (_what, text, message) => {
    expect(refusal(text)).toMatch(message);
  });

  it('a file that cannot be read refuses to start naming UNITS_FILE', () => {
    expect(() => loadUnits(join(dir, 'missing.json'))).toThrow(/UNITS_FILE: cannot read .*missing\.json \(ENOENT\)/);
  });
});

describe('UNIT_LEASES settings', () => {
  const shared = { UNIT_LEASES: 'on', MQTT_URL: 'mqtt://127.0.0.1:1883', REDIS_URL: 'redis://127.0.0.1:6379', SIMULATORS: 'off' };

  it('each gateway gets its own id and MQTT session unless told', () => {
    const a = parseConfig(shared);
    const b = parseConfig(shared);
    expect(a.GATEWAY_ID).not.toBe(b.GATEWAY_ID);
    expect(a.MQTT_CLIENT_ID).toBe(`lg-${a.GATEWAY_ID}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64));
    expect(parseConfig({ ...shared, GATEWAY_ID: 'gw-1', MQTT_CLIENT_ID: 'mine' }).MQTT_CLIENT_ID).toBe('mine');
    expect(parseConfig({ ...shared, GATEWAY_ID: 'gw-1' })).toMatchObject({ GATEWAY_ID: 'gw-1', MQTT_CLIENT_ID: 'lg-gw-1', LEASE_TTL_MS: 15_000, LEASE_RENEW_MS: 5_000 });
    // one gateway (the default) keeps its fixed client id
    expect(parseConfig({}).MQTT_CLIENT_ID).toBe('locker-gateway-1');
  });

  it.each([
    [{ MQTT_URL: '' }, /MQTT_URL: required with UNIT_LEASES=on/],
    [{ REDIS_URL: '' }, /REDIS_URL: required with UNIT_LEASES=on/],
    [{ SIMULATORS: 'on' }, /SIMULATORS: must be off with UNIT_LEASES=on/],
    [{ MQTT_SHARE_GROUP: 'g' }, /MQTT_SHARE_GROUP: not with UNIT_LEASES=on/],
    [{ LEASE_TTL_MS: '6000', LEASE_RENEW_MS: '5000' }, /LEASE_RENEW_MS: at most half of LEASE_TTL_MS/],
    [{ GATEWAY_ID: 'a b' }, /GATEWAY_ID: letters, digits/],
  ])('refuses %j', (env, message) => {
    expect(() => parseConfig({ ...shared, ...env })).toThrow(message);
  });
});
