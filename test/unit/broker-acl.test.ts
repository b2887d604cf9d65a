import { describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import type { Credentials } from '../../src/config/credentials.js';
import type { UnitProfile } from '../../src/domain/model.js';
import {
  authenticate,
  authenticateDetailed,
  canPublish,
  canSubscribe,
  topicMatches,
  unitClientId,
  type Principal,
} from '../../src/broker/acl.js';
import { mosquittoAcl } from '../../src/broker/mosquitto.js';

const creds: Credentials = {
  gateway: { username: 'locker-gateway', password: 'gateway-secret-1' },
  units: {
    'LSN-0001': { password: 'json-secret-01', keyHex: '00'.repeat(32) },
    a4c138f0e2d1: { password: 'compact-secret-02', keyHex: '11'.repeat(32) },
    '861234567890123': { password: 'frame-secret-03', keyHex: null },
  },
};

function unit(id: string): UnitProfile {
  const u = UNITS.find((x) => x.id === id);
  if (!u) throw new Error(`no unit ${id}`);
  return u;
}
const JSON_UNIT = unit('LSN-0001');
const COMPACT_UNIT = unit('a4c138f0e2d1');
const FRAME_UNIT = unit('861234567890123');

const GW: Principal = { kind: 'gateway' };
const P: Record<string, Principal> = {
  'LSN-0001': { kind: 'unit', unit: JSON_UNIT },
  a4c138f0e2d1: { kind: 'unit', unit: COMPACT_UNIT },
  '861234567890123': { kind: 'unit', unit: FRAME_UNIT },
};

describe('authenticate', () => {
  const cases: Array<{ name: string; clientId: string; user: string | undefined; pw: Buffer | string | undefined; want: string | null }> = [
    { name: 'gateway, any client id', clientId: 'locker-gateway-3f9a', user: 'locker-gateway', pw: 'gateway-secret-1', want: 'gateway' },
    { name: 'gateway, another instance', clientId: 'locker-gateway-b00c', user: 'locker-gateway', pw: Buffer.from('gateway-secret-1'), want: 'gateway' },
    { name: 'gateway, wrong password', clientId: 'locker-gateway-1', user: 'locker-gateway', pw: 'gateway-secret-2', want: null },
    { name: 'gateway, no password', clientId: 'locker-gateway-1', user: 'locker-gateway', pw: undefined, want: null },
    { name: 'gateway, empty password', clientId: 'locker-gateway-1', user: 'locker-gateway', pw: '', want: null },
    { name: 'gateway under a unit\'s client id (would cut the unit off)', clientId: 'LSN-0001', user: 'locker-gateway', pw: 'gateway-secret-1', want: null },
    { name: 'gateway under a DTU\'s client id', clientId: 'dtu-861234567890123', user: 'locker-gateway', pw: 'gateway-secret-1', want: null },
    { name: 'json-v1: client id = sn', clientId: 'LSN-0001', user: 'LSN-0001', pw: 'json-secret-01', want: 'LSN-0001' },
    { name: 'json-v1: password as Buffer', clientId: 'LSN-0001', user: 'LSN-0001', pw: Buffer.from('json-secret-01'), want: 'LSN-0001' },
    { name: 'json-v1: wrong client id', clientId: 'LSN-0001-x', user: 'LSN-0001', pw: 'json-secret-01', want: null },
    { name: 'json-v1: wrong password', clientId: 'LSN-0001', user: 'LSN-0001', pw: 'json-secret-02', want: null },
    { name: 'json-v1: password prefix', clientId: 'LSN-0001', user: 'LSN-0001', pw: 'json-secret-0', want: null },
    { name: 'json-v1: another unit\'s password', clientId: 'LSN-0001', user: 'LSN-0001', pw: 'compact-secret-02', want: null },
    { name: 'compact-v2: client id cab-{mac}', clientId: 'cab-a4c138f0e2d1', user: 'a4c138f0e2d1', pw: 'compact-secret-02', want: 'a4c138f0e2d1' },
    { name: 'compact-v2: client id = mac refused', clientId: 'a4c138f0e2d1', user: 'a4c138f0e2d1', pw: 'compact-secret-02', want: null },
    { name: 'frame-485: client id dtu-{imei}', clientId: 'dtu-861234567890123', user: '861234567890123', pw: 'frame-secret-03', want: '861234567890123' },
    { name: 'frame-485: another unit\'s client id', clientId: 'cab-a4c138f0e2d1', user: '861234567890123', pw: 'frame-secret-03', want: null },
    { name: 'unit using the gateway\'s password', clientId: 'LSN-0001', user: 'LSN-0001', pw: 'gateway-secret-1', want: null },
    { name: 'unknown user', clientId: 'LSN-0002', user: 'LSN-0002', pw: 'json-secret-01', want: null },
    { name: 'no user name', clientId: 'LSN-0001', user: undefined, pw: 'json-secret-01', want: null },
  ];
  it.each(cases)('$name', ({ clientId, user, pw, want }) => {
    const p = authenticate(creds, UNITS, clientId, user, pw);
    if (want === null) expect(p).toBeNull();
    else expect(p && (p.kind === 'gateway' ? 'gateway' : p.unit.id)).toBe(want);
  });

  it('says why, for the log', () => {
    expect(authenticateDetailed(creds, UNITS, 'x', 'LSN-0001', 'json-secret-01')).toEqual({ ok: false, reason: 'wrong-client-id' });
    expect(authenticateDetailed(creds, UNITS, 'LSN-0001', 'LSN-0001', 'nope-nope')).toEqual({ ok: false, reason: 'bad-password' });
    expect(authenticateDetailed(creds, UNITS, 'x', 'who', 'nope-nope')).toEqual({ ok: false, reason: 'unknown-user' });
  });

  it('refuses a unit that has no credentials', () => {
    const noCreds: Credentials = { ...creds, units: { 'LSN-0001': creds.units['LSN-0001']! } };
    expect(authenticate(noCreds, UNITS, 'cab-a4c138f0e2d1', 'a4c138f0e2d1', 'compact-secret-02')).toBeNull();
  });

  it('vendor client ids', () => {
    expect(UNITS.map(unitClientId)).toEqual(['LSN-0001', 'cab-a4c138f0e2d1', 'dtu-861234567890123']);
  });
});

describe('canPublish', () => {
  const allowed: Array<[string, string]> = [
    ['LSN-0001', 'lockers/LSN-0001/presence'],
    ['LSN-0001', 'lockers/LSN-0001/state'],
    ['LSN-0001', 'lockers/LSN-0001/events'],
    ['LSN-0001', 'lockers/LSN-0001/replies'],
    ['a4c138f0e2d1', 'cab/a4c138f0e2d1/up'],
    ['861234567890123', 'dtu/861234567890123/rx'],
    ['861234567890123', 'dtu/861234567890123/state'],
    ['gateway', 'lockers/LSN-0001/commands'],
    ['gateway', 'cab/a4c138f0e2d1/down'],
    ['gateway', 'dtu/861234567890123/tx'],
  ];
  const refused: Array<[string, string]> = [
    // a unit's own command topic: only the gateway sends commands
    ['LSN-0001', 'lockers/LSN-0001/commands'],
    ['a4c138f0e2d1', 'cab/a4c138f0e2d1/down'],
    ['861234567890123', 'dtu/861234567890123/tx'],
    // another unit's topics
    ['LSN-0001', 'lockers/a4c138f0e2d1/events'],
    ['LSN-0001', 'cab/a4c138f0e2d1/up'],
    ['LSN-0001', 'dtu/861234567890123/tx'],
    ['a4c138f0e2d1', 'cab/a4c138f0e2d2/up'],
    ['a4c138f0e2d1', 'lockers/LSN-0001/presence'],
    ['861234567890123', 'cab/a4c138f0e2d1/down'],
    ['861234567890123', 'dtu/861234567890124/rx'],
    // a unit's own id under another dialect's prefix, or under extra levels
    ['LSN-0001', 'cab/LSN-0001/up'],
    ['LSN-0001', 'lockers/LSN-0001/events/x'],
    ['LSN-0001', 'lockers/LSN-0001'],
    ['LSN-0001', '/lockers/LSN-0001/events'],
    ['a4c138f0e2d1', 'cab/a4c138f0e2d1/up/'],
    // wildcards are never valid in a PUBLISH
    ['LSN-0001', 'lockers/+/events'],
    ['LSN-0001', 'lockers/LSN-0001/#'],
    ['gateway', 'lockers/+/commands'],
    ['gateway', 'dtu/#'],
    ['gateway', '#'],
    ['LSN-0001', ''],
    ['gateway', ''],
    // the gateway never publishes what a unit publishes
    ['gateway', 'lockers/LSN-0001/events'],
    ['gateway', 'lockers/LSN-0001/presence'],
    ['gateway', 'lockers/LSN-0001/state'],
    ['gateway', 'lockers/LSN-0001/replies'],
    ['gateway', 'cab/a4c138f0e2d1/up'],
    ['gateway', 'dtu/861234567890123/rx'],
    ['gateway', 'dtu/861234567890123/state'],
    // nor anything else
    ['gateway', 'lockers/LSN-0001/commands/x'],
    ['gateway', 'lockers/a/b/commands'],
    ['gateway', 'other/LSN-0001/commands'],
    ['gateway', '$SYS/broker/x'],
  ];
  const principal = (name: string): Principal => (name === 'gateway' ? GW : P[name]!);
  it.each(allowed)('%s may publish to %s', (who, topic) => expect(canPublish(principal(who), topic)).toBe(true));
  it.each(refused)('%s may not publish to %j', (who, topic) => expect(canPublish(principal(who), topic)).toBe(false));
});

describe('canSubscribe', () => {
  const allowed: Array<[string, string]> = [
    ['LSN-0001', 'lockers/LSN-0001/commands'],
    ['a4c138f0e2d1', 'cab/a4c138f0e2d1/down'],
    ['861234567890123', 'dtu/861234567890123/tx'],
    ['gateway', 'lockers/+/events'],
    ['gateway', 'lockers/#'],
    ['gateway', 'lockers/LSN-0001/state'],
    ['gateway', 'cab/+/up'],
    ['gateway', 'dtu/+/rx'],
    ['gateway', 'dtu/+/+'],
    ['gateway', '$share/gw/lockers/+/events'],
    ['gateway', '$share/gw/dtu/#'],
    ['gateway', '$share/g-2/cab/a4c138f0e2d1/up'],
  ];
  const refused: Array<[string, string]> = [
    // units: wildcards, other units' commands, their own uplink
    ['LSN-0001', 'lockers/+/commands'],
    ['LSN-0001', 'lockers/LSN-0001/+'],
    ['LSN-0001', 'lockers/LSN-0001/#'],
    ['LSN-0001', 'lockers/#'],
    ['LSN-0001', '#'],
    ['LSN-0001', '+/LSN-0001/commands'],
    ['LSN-0001', 'cab/a4c138f0e2d1/down'],
    ['LSN-0001', 'dtu/861234567890123/tx'],
    ['LSN-0001', 'lockers/LSN-0001/events'],
    ['LSN-0001', '$share/g/lockers/LSN-0001/commands'],
    ['a4c138f0e2d1', 'cab/+/down'],
    ['a4c138f0e2d1', 'cab/#'],
    ['a4c138f0e2d1', 'lockers/LSN-0001/commands'],
    ['861234567890123', 'dtu/+/tx'],
    ['861234567890123', 'dtu/861234567890123/#'],
    ['861234567890123', '$SYS/#'],
    // gateway: nothing outside its roots, never everything, never $SYS, no malformed filters
    ['gateway', '#'],
    ['gateway', '+/#'],
    ['gateway', '+/LSN-0001/events'],
    ['gateway', '$SYS/#'],
    ['gateway', '$share/gw/#'],
    ['gateway', '$share/gw/$SYS/#'],
    ['gateway', '$share/gw/other/#'],
    ['gateway', '$share//lockers/#'],
    ['gateway', '$share/gw'],
    ['gateway', '$share/gw/'],
    ['gateway', '$share/+/lockers/#'],
    ['gateway', 'lockers'],
    ['gateway', 'other/topic'],
    ['gateway', 'lockers/#/events'],
    ['gateway', 'lockers/LSN-0001+/events'],
    ['gateway', 'lockers/LSN#'],
    ['gateway', ''],
  ];
  const principal = (name: string): Principal => (name === 'gateway' ? GW : P[name]!);
  it.each(allowed)('%s may subscribe to %s', (who, filter) => expect(canSubscribe(principal(who), filter)).toBe(true));
  it.each(refused)('%s may not subscribe to %j', (who, filter) => expect(canSubscribe(principal(who), filter)).toBe(false));
});

describe('topicMatches', () => {
  it.each([
    ['lockers/+/commands', 'lockers/LSN-0001/commands', true],
    ['lockers/+/commands', 'lockers/LSN-0001/commands/x', false],
    ['lockers/+/commands', 'lockers/commands', false],
    ['lockers/#', 'lockers/a/b/c', true],
    ['lockers/#', 'lockers', true],
    ['lockers/#', 'cab/x', false],
  ] as const)('%s vs %s', (f, t, want) => expect(topicMatches(f, t)).toBe(want));
});

describe('Mosquitto acl file', () => {
  it('has one block per principal with exactly the rules above', () => {
    const acl = mosquittoAcl(creds, UNITS);
    const blocks = new Map<string, string[]>();
    let user = '';
    for (const line of acl.split('\n')) {
      if (line.startsWith('user ')) blocks.set((user = line.slice(5)), []);
      else if (line.startsWith('topic ')) {
        expect(user, 'no topic line outside a user block').not.toBe('');
        blocks.get(user)!.push(line);
      }
    }
    expect(Object.fromEntries(blocks)).toEqual({
      'locker-gateway': [
        'topic write lockers/+/commands',
        'topic write cab/+/down',
        'topic write dtu/+/tx',
        'topic read lockers/#',
        'topic read cab/#',
        'topic read dtu/#',
      ],
      'LSN-0001': [
        'topic write lockers/LSN-0001/presence',
        'topic write lockers/LSN-0001/state',
        'topic write lockers/LSN-0001/events',
        'topic write lockers/LSN-0001/replies',
        'topic read lockers/LSN-0001/commands',
      ],
      a4c138f0e2d1: ['topic write cab/a4c138f0e2d1/up', 'topic read cab/a4c138f0e2d1/down'],
      '861234567890123': [
        'topic write dtu/861234567890123/rx',
        'topic write dtu/861234567890123/state',
        'topic read dtu/861234567890123/tx',
      ],
    });
    // every write line is something canPublish allows to that principal
    for (const [who, lines] of blocks) {
      const p = who === 'locker-gateway' ? GW : P[who]!;
      for (const l of lines.filter((x) => x.startsWith('topic write ')).map((x) => x.slice(12))) {
        if (!l.includes('+')) expect(canPublish(p, l)).toBe(true);
        else expect(canPublish(p, l.replace('+', 'X1'))).toBe(true);
      }
    }
  });

  it('refuses credentials that lack a unit', () => {
    const noCreds: Credentials = { ...creds, units: { 'LSN-0001': creds.units['LSN-0001']! } };
    expect(() => mosquittoAcl(noCreds, UNITS)).toThrow(/a4c138f0e2d1, 861234567890123/);
  });
});
