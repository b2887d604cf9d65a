import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { AlertEngine } from '../../src/alerts/engine.js';
import { AlertStore } from '../../src/alerts/store.js';
import { ManualClock } from '../../src/domain/clock.js';
import { EvidenceLog } from '../../src/evidence/log.js';
import { Counters } from '../../src/metrics.js';
import { registerGauges } from '../../src/runtime/gauges.js';
import { ParcelStore } from '../../src/store/parcels.js';
import { ChangeFeed, type Change } from '../../src/store/feed.js';
import { UnitStore } from '../../src/store/units.js';
import { TestRedis } from '../support/redis.js';
import { eventually, logger } from '../support/stack.js';

const UNIT = UNITS[0]!.id;
const MIN = 60_000;
const DUTY = ['13900000001', '13900000002'];

/**
 * The alert engine against a real Redis: two gateway processes' worth of engines (each its own connections and
 * evidence log, one consumer group), the unit state written as units write it, an injected clock for time passing.
 */
describe('alert engine', () => {
  const redis = new TestRedis();
  let n = 0;
  const running: { stop(): Promise<void> }[] = [];
  const clients: Redis[] = [];

  beforeAll(async () => {
    await redis.start();
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(() => redis.destroy());

  /** One gateway process's pieces, on a fresh key prefix per test. */
  function proc(prefix: string, clock: ManualClock, name: string) {
    const r = redis.client();
    clients.push(r);
    const log = new EvidenceLog(r, prefix);
    const units = new UnitStore(r, prefix, UNITS, log);
    const alerts = new AlertStore(r, prefix, log);
    const blocking = redis.client();
    clients.push(blocking);
    const engine = new AlertEngine({
      blocking,
      redis: r,
      log,
      units,
      profiles: UNITS,
      alerts,
      clock,
      logger,
      counters: new Counters(),
      policy: { offlineMs: 5 * MIN, doorOpenMs: 5 * MIN },
      dutyPhones: DUTY,
      consumer: name,
      checkMs: 3_600_000,
      blockMs: 200,
    });
    return { r, log, units, alerts, engine };
  }

  const outbox = async (r: Redis, prefix: string) =>
    (await r.xrange(`${prefix}outbox`, '-', '+')).map(([, f]) => JSON.parse(f[3]!) as { id: string; kind: string; to: { sms?: string; webhook?: string }; params: Record<string, string> });

  it('raises an alarm once though two gateways read the chain, tells the staff on duty and the property, and records it', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const b = proc(prefix, clock, 'gw-b');
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.engine.start();
    await b.engine.start();
    running.push(a.engine, b.engine);
    // several alarms of the same door while the first is open: one alert, the others folded into it
    for (let i = 0; i < 3; i++) await (i % 2 ? b : a).units.apply({ unit: UNIT, at: clock.now(), source: { seq: i }, kind: 'alarm', alarm: 'door_forced', compartment: 9 });
    const alert = await eventually(async () => {
      const [open] = await a.alerts.open();
      return open && open.repeats === 2 ? open : null;
    }, 8000, 'one alert, two repeats');
    expect(await a.alerts.open()).toHaveLength(1);
    expect(alert).toMatchObject({ kind: 'door-forced', unit: UNIT, compartment: 9, ackedAt: null });
    const notices = (await outbox(a.r, prefix)).filter((x) => x.kind === 'staff-alert');
    expect(notices.map((x) => x.to.sms ?? x.to.webhook).sort()).toEqual([...DUTY, 'property'].sort());
    expect(notices[0]!.params.summaryZh).toBe('里厍二村北区 柜门被撬开：LSN-0001 9号格口');
    const evidence = (await a.units.events(UNIT, { limit: 100 })).filter((e) => e.event.kind === 'alert');
    expect(evidence.map((e) => e.event.alert)).toEqual([alert.id]);

    // acknowledged by a named member: once; the next forced opening is a new alert
    const who = { type: 'staff' as const, id: 's_1', name: '张主任' };
    expect(await b.alerts.ack(alert.id, who, clock.now(), 'checked')).toBe('ok');
    expect(await a.alerts.ack(alert.id, who, clock.now())).toBe('already');
    expect(await a.alerts.open()).toEqual([]);
    await b.units.apply({ unit: UNIT, at: clock.now(), source: { seq: 9 }, kind: 'alarm', alarm: 'door_forced', compartment: 9 });
    await eventually(async () => (await a.alerts.open()).length === 1, 8000, 'a second alert after the acknowledgement');
    expect((await a.alerts.recent()).map((x) => x.id)).toContain(alert.id);
  });

  it('alerts a unit offline for five minutes once, however often both gateways check, and not before', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const b = proc(prefix, clock, 'gw-b');
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: false });
    clock.advance(4 * MIN + 59_000);
    await Promise.all([a.engine.check(), b.engine.check()]);
    expect(await a.alerts.open()).toEqual([]);
    clock.advance(1_000);
    await Promise.all([a.engine.check(), b.engine.check(), a.engine.check()]);
    clock.advance(10 * MIN);
    await Promise.all([a.engine.check(), b.engine.check()]);
    const open = await a.alerts.open();
    expect(open.map((x) => x.kind)).toEqual(['unit-offline']);
    expect(open[0]!.repeats).toBe(0);
    expect((await outbox(a.r, prefix)).filter((x) => x.kind === 'staff-alert')).toHaveLength(3);
    // acknowledged while still offline: the same outage is not raised again
    await a.alerts.ack(open[0]!.id, { type: 'staff', id: 's_1', name: 'x' }, clock.now());
    clock.advance(10 * MIN);
    await b.engine.check();
    expect(await a.alerts.open()).toEqual([]);
  });

  it('raises keypad locks, jammed doors and dead letters from the chain, after a restart too', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.engine.start();
    await a.engine.stop();
    // written while no engine runs: read from the group's position when it starts again
    await a.log.append(`unit:${UNIT}`, [{ at: clock.now(), kind: 'keypad', actor: { type: 'system', id: 'keypad-limit' }, unit: UNIT, state: 'locked', until: clock.now() + 10 * MIN }]);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'fault', compartment: 4, fault: 'jammed' });
    await a.log.append(`unit:${UNIT}`, [{ at: clock.now(), kind: 'dead-letter', actor: { type: 'system', id: 'engine' }, unit: UNIT, entry: '1-0', what: 'door-closed', attempts: 5 }]);
    const again = proc(prefix, clock, 'gw-a');
    await again.engine.start();
    running.push(again.engine);
    const kinds = await eventually(async () => {
      const k = (await a.alerts.open()).map((x) => x.kind).sort();
      return k.length === 3 ? k : null;
    }, 8000, 'three alerts');
    expect(kinds).toEqual(['dead-letter', 'door-jammed', 'keypad-locked']);
    // keypad locks and dead letters already went to the property webhook with notices of their own: SMS only
    const notices = (await outbox(a.r, prefix)).filter((x) => x.kind === 'staff-alert');
    expect(notices.filter((x) => x.to.webhook === 'property').map((x) => x.params.alertKind)).toEqual(['door-jammed']);
    expect(notices.filter((x) => x.to.sms)).toHaveLength(6);
  });

  it('clears a unit-offline alert when the unit is back, keeps it in the history, and raises the next outage anew', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const b = proc(prefix, clock, 'gw-b');
    await a.engine.start();
    await b.engine.start();
    running.push(a.engine, b.engine);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: false });
    clock.advance(6 * MIN);
    await a.engine.check();
    const [alert] = await a.alerts.open();
    expect(alert).toMatchObject({ kind: 'unit-offline', clearedAt: null });

    // back online: the presence entry ends it (both engines read the chain: cleared once)
    clock.advance(MIN);
    await b.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    const cleared = await eventually(async () => {
      const x = await a.alerts.get(alert!.id);
      return x?.clearedAt ? x : null;
    }, 8000, 'cleared');
    expect(cleared).toMatchObject({ clearedAt: clock.now(), clearReason: 'unit-online', ackedAt: null });
    expect(await a.alerts.open()).toEqual([]);
    expect((await a.alerts.recent()).map((x) => x.id)).toEqual([alert!.id]);
    const entries = (await a.units.events(UNIT, { limit: 100 })).filter((e) => e.event.kind === 'alert-clear');
    expect(entries.map((e) => [e.event.alert, e.event.reason])).toEqual([[alert!.id, 'unit-online']]);
    // checks after the fact find nothing more to do; the same outage is never raised again
    await Promise.all([a.engine.check(), b.engine.check()]);
    expect((await a.units.events(UNIT, { limit: 100 })).filter((e) => e.event.kind === 'alert-clear')).toHaveLength(1);
    expect(await a.alerts.open()).toEqual([]);

    // staff can still acknowledge the cleared alert, once
    const who = { type: 'staff' as const, id: 's_1', name: '张主任' };
    expect(await a.alerts.ack(alert!.id, who, clock.now())).toBe('ok');
    expect(await a.alerts.ack(alert!.id, who, clock.now())).toBe('already');
    expect(await a.alerts.get(alert!.id)).toMatchObject({ clearedAt: cleared.clearedAt, ackedBy: { name: '张主任' } });

    // a new outage is a new alert (the subject was freed)
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: false });
    clock.advance(5 * MIN);
    await b.engine.check();
    const open = await a.alerts.open();
    expect(open.map((x) => x.kind)).toEqual(['unit-offline']);
    expect(open[0]!.id).not.toBe(alert!.id);
  });

  it('clears by the state check too: an alert raised after the entry that ended it was read', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-opened', compartment: 5 });
    clock.advance(6 * MIN);
    await a.engine.check();
    const [alert] = await a.alerts.open();
    expect(alert).toMatchObject({ kind: 'door-left-open', compartment: 5 });
    // closed while no engine reads the chain; the engine starts at the end of the chain (first start): only the
    // state tells
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-closed', compartment: 5, occupied: false });
    await a.engine.check();
    expect(await a.alerts.open()).toEqual([]);
    expect(await a.alerts.get(alert!.id)).toMatchObject({ clearReason: 'door-closed' });
  });

  it('clears keypad locks, jammed doors, missing parcels, claim clocks and lockdowns when they end; forced doors wait for staff', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const sys = { type: 'system' as const, id: 'test' };
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    // the office chain exists when the engine starts (else it is found by the next scan, seconds later)
    await a.log.append('office', [{ at: clock.now(), kind: 'staff', actor: sys, action: 'staff.add' }]);
    await a.engine.start();
    running.push(a.engine);
    const chain = `unit:${UNIT}`;
    await a.log.append(chain, [{ at: clock.now(), kind: 'keypad', actor: sys, unit: UNIT, state: 'locked', until: clock.now() + 10 * MIN }]);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'fault', compartment: 4, fault: 'jammed' });
    await a.log.append(chain, [{ at: clock.now(), kind: 'parcel', actor: sys, unit: UNIT, compartment: 3, parcel: 'p_1', from: 'stored', to: 'missing', reason: 'door-open-empty' }]);
    await a.log.append('office', [{ at: clock.now(), kind: 'claim-alert', actor: sys, claim: 'c_1', clock: 'ack', stage: 'near' }]);
    await a.log.append(chain, [{ at: clock.now(), kind: 'lockdown', actor: sys, unit: UNIT, scope: 'unit', cause: 'burst' }]);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'alarm', alarm: 'door_forced', compartment: 9 });
    const kinds = await eventually(async () => {
      const k = (await a.alerts.open()).map((x) => x.kind).sort();
      return k.length === 6 ? k : null;
    }, 8000, 'six alerts');
    expect(kinds).toEqual(['claim-clock', 'door-forced', 'door-jammed', 'keypad-locked', 'lockdown', 'parcel-missing']);

    clock.advance(MIN);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'keypad', state: 'enabled' });
    await a.log.append(chain, [{ at: clock.now(), kind: 'parcel', actor: sys, unit: UNIT, compartment: 3, parcel: 'p_1', from: 'missing', to: 'collected', reason: 'found' }]);
    await a.log.append('office', [{ at: clock.now(), kind: 'claim', actor: sys, claim: 'c_1', action: 'resolve', from: 'investigating', to: 'resolved' }]);
    await a.log.append(chain, [{ at: clock.now(), kind: 'lockdown-lifted', actor: sys, unit: UNIT, scope: 'unit' }]);
    // the forced door is closed again: still open, a forced door is for staff to see
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-closed', compartment: 9, occupied: false });
    // the jammed door opens again: the lock released
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-opened', compartment: 4 });
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-closed', compartment: 4, occupied: false });
    await eventually(async () => (await a.alerts.open()).length === 1, 8000, 'five cleared by their entries');
    await a.engine.check();
    expect((await a.alerts.open()).map((x) => x.kind)).toEqual(['door-forced']);
    const reasons = Object.fromEntries((await a.alerts.recent()).map((x) => [x.kind, x.clearReason]));
    expect(reasons).toEqual({
      'keypad-locked': 'keypad-unlocked',
      'door-jammed': 'door-opened',
      'parcel-missing': 'parcel-collected',
      'claim-clock': 'claim-resolved',
      lockdown: 'lockdown-lifted',
      'door-forced': null,
    });
  });

  it('clears from the records too, when another engine read the ending entry before this alert was raised', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const at = clock.now();
    // raised as another engine would, while the entries that end them were already read elsewhere
    await a.engine.raise({ kind: 'parcel-missing', key: 'parcel-missing:p_2', subject: 'parcel-missing:p_2', unit: UNIT, parcel: 'p_2', at, detail: {} });
    await a.engine.raise({ kind: 'claim-clock', key: 'claim-clock:c_2:0:ack:near', subject: 'claim-clock:c_2:0:ack:near', claim: 'c_2', at, detail: {}, notified: true });
    await a.engine.raise({ kind: 'lockdown', key: `lockdown:${UNIT}:${at}`, subject: `lockdown:${UNIT}`, unit: UNIT, at, detail: {}, notified: true });
    await a.engine.raise({ kind: 'lockdown', key: `lockdown:fleet:${at}`, subject: 'lockdown:fleet', at, detail: {}, notified: true });
    await a.r.hset(`${prefix}parcel:p_2`, 'j', JSON.stringify({ id: 'p_2', state: 'missing' }));
    await a.r.hset(`${prefix}claim:c_2`, 'state', 'investigating');
    await a.r.set(`${prefix}lockdown:unit:${UNIT}`, '{}');
    await a.r.set(`${prefix}lockdown:fleet`, '{}');
    await a.engine.check();
    expect(await a.alerts.open()).toHaveLength(4);
    await a.r.hset(`${prefix}parcel:p_2`, 'j', JSON.stringify({ id: 'p_2', state: 'returned' }));
    await a.r.hset(`${prefix}claim:c_2`, 'state', 'closed');
    await a.r.del(`${prefix}lockdown:unit:${UNIT}`);
    await a.engine.check();
    expect((await a.alerts.open()).map((x) => x.subject)).toEqual(['lockdown:fleet']);
    const reasons = Object.fromEntries((await a.alerts.recent()).map((x) => [x.subject, x.clearReason]));
    expect(reasons).toMatchObject({ 'parcel-missing:p_2': 'parcel-returned', 'claim-clock:c_2:0:ack:near': 'claim-closed', [`lockdown:${UNIT}`]: 'lockdown-lifted' });
  });

  it('finds the open alerts of the subjects an entry ends, exact or by prefix (glob characters taken literally), in a large index', async () => {
    const prefix = `t${++n}:`;
    const a = proc(prefix, new ManualClock(Date.now()), 'gw-a');
    const index: Record<string, string> = {};
    // enough subjects that Redis keeps the index as a hash table, scanned in several steps
    for (let i = 0; i < 600; i++) index[`door-left-open:${UNIT}:${i}`] = `a_${String(i).padStart(20, '0')}`;
    Object.assign(index, {
      'claim-clock:c_1:0:ack:near': 'a_c1a',
      'claim-clock:c_1:2:resolve:late': 'a_c1b',
      'claim-clock:c_10:0:ack:near': 'a_c10',
      'claim-clock:c_[1]*:0:ack:near': 'a_glob',
      'claim-clock:c_?:0:ack:near': 'a_q',
      'keypad-locked:U9': 'a_kp',
    });
    await a.r.hset(`${prefix}alerts:subjects`, index);
    const find = async (subjects: string[], p?: string) => (await a.alerts.openBySubject({ subjects, prefix: p })).sort();
    expect(await find([`door-left-open:${UNIT}:7`, 'keypad-locked:U9', 'unit-offline:U9'])).toEqual(['a_00000000000000000007', 'a_kp']);
    expect(await find([], 'claim-clock:c_1:')).toEqual(['a_c1a', 'a_c1b']);
    expect(await find([], 'claim-clock:c_[1]*:')).toEqual(['a_glob']);
    expect(await find([], 'claim-clock:c_?:')).toEqual(['a_q']);
    expect(await find(['claim-clock:c_1:0:ack:near'], 'claim-clock:c_1:')).toEqual(['a_c1a', 'a_c1b']);
    expect(await find([], 'claim-clock:c_2:')).toEqual([]);
    expect(await find(['lockdown:fleet'])).toEqual([]);
  });

  it('counts open alerts by kind for /metrics', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const counters = new Counters();
    registerGauges(counters, { redis: a.r, prefix, units: UNITS, store: a.units, parcels: new ParcelStore(a.r, prefix), queues: () => [] });
    const gauge = async (kind: string) => {
      const text = await counters.registry.metrics();
      const m = new RegExp(`^lg_alerts_open\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    expect(await gauge('unit-offline')).toBe(0);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: false });
    clock.advance(6 * MIN);
    await a.engine.check();
    await a.engine.raise({ kind: 'tamper', key: 'tamper:x', subject: `tamper:${UNIT}`, unit: UNIT, at: clock.now(), detail: {} });
    expect([await gauge('unit-offline'), await gauge('tamper'), await gauge('door-jammed')]).toEqual([1, 1, 0]);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'presence', online: true });
    await a.engine.check();
    expect([await gauge('unit-offline'), await gauge('tamper')]).toEqual([0, 1]);
  });

  it('feeds every change to the live pages of another gateway process', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const b = proc(prefix, clock, 'gw-b');
    // gateway B serves the page; gateway A records the door
    const feedRedis = redis.client();
    clients.push(feedRedis);
    const feed = new ChangeFeed({ blocking: feedRedis, log: b.log, logger, blockMs: 200, rescanMs: 100 });
    await feed.start();
    running.push(feed);
    const seen: Change[] = [];
    feed.subscribe((c) => seen.push(c));
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-opened', compartment: 12 });
    const change = await eventually(() => seen.find((c) => c.kind === 'door-opened'), 8000, 'the change on B');
    expect(change.topics).toEqual([`unit:${UNIT}`, 'units']);
    await a.log.append('office', [{ at: clock.now(), kind: 'staff', actor: { type: 'staff', id: 's', name: 'n' }, action: 'staff.add' }]);
    expect((await eventually(() => seen.find((c) => c.kind === 'staff'), 8000, 'a new chain')).topics).toEqual(['staff']);
  });

  it('reads nothing while no page listens, and a page is told of what happens from its subscription on', async () => {
    const prefix = `t${++n}:`;
    const clock = new ManualClock(Date.now());
    const a = proc(prefix, clock, 'gw-a');
    const feedRedis = redis.client();
    clients.push(feedRedis);
    const reads = vi.spyOn(feedRedis, 'xread');
    const feed = new ChangeFeed({ blocking: feedRedis, log: a.log, logger, blockMs: 200, rescanMs: 100, resumeMarginMs: 0 });
    await feed.start();
    running.push(feed);
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-opened', compartment: 12 });
    const [s0, us0] = await a.r.time();
    await a.r.ping();
    expect(reads).not.toHaveBeenCalled();
    // a page subscribes once Redis's clock has moved past the door's entry
    await eventually(async () => {
      const [s1, us1] = await a.r.time();
      return Number(s1) * 1e6 + Number(us1) - (Number(s0) * 1e6 + Number(us0)) > 20_000 || undefined;
    }, 2000, 'the clock moving on');
    const seen: Change[] = [];
    const unsubscribe = feed.subscribe((c) => seen.push(c));
    await a.units.apply({ unit: UNIT, at: clock.now(), source: {}, kind: 'door-closed', compartment: 12, occupied: false });
    await eventually(() => seen.find((c) => c.kind === 'door-closed'), 8000, 'the change after subscribing');
    expect(seen.map((c) => c.kind)).not.toContain('door-opened');
    unsubscribe();
    expect(feed.listeners).toBe(0);
  });
});
