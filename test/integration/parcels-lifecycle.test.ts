import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandInfo } from '../../simulators/index.js';
import { eventually } from '../support/stack.js';
import {
  COMPACT_V2,
  FRAME_485,
  HOUR,
  JSON_V1,
  ParcelWorld,
  codeIn,
  presenceNow,
  smsText,
  streamAfter,
  wrongPresence,
  type TestCourier,
  STAFF,
} from '../support/parcels.js';

/**
 * The parcel lifecycle end to end: courier API → door opens at the simulated unit → the test puts the parcel in and
 * closes the door → stored, SMS with the code → the resident types it (or picks up remotely) → collected.
 */
describe('parcels: lifecycle through the HTTP API, MQTT and the three simulators', () => {
  const world = new ParcelWorld({ DEPOSIT_OPEN_TIMEOUT_MS: '2500' });
  let courier: TestCourier;

  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
  });
  afterAll(() => world.stop());

  it.each([
    [JSON_V1, 'zh', 17],
    [COMPACT_V2, 'zh', 13],
    [FRAME_485, 'en', 11],
  ] as const)('%s: deposit → stored → SMS (%s) → code at the keypad → collected → compartment free again', async (unit, lang, firstM) => {
    const phone = world.phone();
    if (lang === 'en') await world.prefs(phone, { lang: 'en' });

    // The courier asks for an M compartment: the smallest free one that fits, and its door opens.
    const dep = await world.deposit(courier, { unit, size: 'M', phone, name: '王阿姨', carrier: 'SF' });
    expect(dep.status).toBe(201);
    expect(dep.body).toMatchObject({ unit, size: 'M', compartment: firstM, phoneTail: phone.slice(-4), storedAt: null, deadline: null });
    // The answer follows the door's open command, so the door-opened event may already have been applied.
    expect(['reserved', 'depositing']).toContain(dep.body.state);
    const id = dep.body.id as string;
    const sim = world.sim(unit);
    await world.doorOpen(unit, firstM);
    await world.waitState(courier, id, 'depositing');

    sim.putParcel(firstM);
    sim.closeDoor(firstM);
    const stored = await world.waitState(courier, id, 'stored');
    expect(stored.deadline).toBe(stored.storedAt + 72 * HOUR);
    expect(stored.endedAt).toBeNull();

    const sms = await world.smsFor(`${id}.stored`);
    const code = codeIn(sms);
    expect(code).toMatch(/^\d{6}$/);
    expect(sms.body).toMatchObject({ to: `+86${phone}` });
    if (lang === 'zh') {
      expect(smsText(sms)).toMatch(/^【.+】您的包裹\(顺丰 …\d{4}\)已存入/);
      expect(smsText(sms)).toContain(`${firstM}号格口`);
      expect(smsText(sms)).toContain(`取件码 ${code}`);
    } else {
      expect(smsText(sms)).toContain(`box ${firstM}. Pickup code: ${code}.`);
    }
    const unitState = await world.unitState(unit);
    expect(unitState.compartments[firstM - 1]).toMatchObject({ doorOpen: false, occupied: true });

    // The resident types the code at the keypad: the door opens; they take the parcel and close it.
    await world.collectAtKeypad(unit, code, firstM);
    const collected = await world.waitState(courier, id, 'collected');
    expect(collected.endedAt).toBeGreaterThanOrEqual(stored.storedAt);
    const done = await world.smsFor(`${id}.collected`);
    expect(smsText(done)).toMatch(lang === 'zh' ? /已于.+从.+取出/ : /was collected from .+ at /);
    // Exactly one stored SMS (with the code) and one collected SMS reached the resident.
    expect(world.smsTo(phone).map((r) => (r.body as { id: string }).id)).toEqual([`${id}.stored.sms`, `${id}.collected.sms`]);
    expect(world.smsTo(phone).filter((r) => smsText(r).includes(code))).toHaveLength(1);

    // Every transition is in the unit's event log.
    expect(await world.transitions(unit, id)).toEqual([
      'new>reserved',
      'reserved>depositing',
      'depositing>stored',
      'stored>collecting',
      'collecting>collected',
    ]);

    // The compartment is free again: the next M deposit gets it. Closed empty, that deposit is cancelled.
    const again = await world.deposit(courier, { unit, size: 'M', phone: world.phone() });
    expect(again.status).toBe(201);
    expect(again.body.compartment).toBe(firstM);
    await world.doorOpen(unit, firstM);
    await world.waitState(courier, again.body.id, 'depositing');
    sim.closeDoor(firstM);
    const cancelled = await world.waitState(courier, again.body.id, 'cancelled');
    expect(cancelled.reason).toBe('closed-empty');
    const hook = await world.hook('/hook', 'deposit-cancelled', again.body.id);
    expect((hook.body as { params: { reason: string } }).params.reason).toBe('closed-empty');
    expect(await world.transitions(unit, again.body.id)).toEqual(['new>reserved', 'reserved>depositing', 'depositing>cancelled']);

    // ... and free once more.
    const third = await world.deposit(courier, { unit, size: 'M', phone: world.phone() });
    expect(third.body.compartment).toBe(firstM);
    await world.doorOpen(unit, firstM);
    await world.waitState(courier, third.body.id, 'depositing');
    sim.closeDoor(firstM);
    await world.waitState(courier, third.body.id, 'cancelled');
  });

  it('remote pickup: code + phone + presence code opens the door; a wrong presence code is 403 wrong_presence_code', async () => {
    const phone = world.phone();
    const { parcel, code } = await world.storeParcel(courier, { unit: COMPACT_V2, size: 'S', phone });
    const client = world.client();

    const wrong = await world.request('POST', '/v1/pickups', { unit: COMPACT_V2, code, phone, presenceCode: wrongPresence(COMPACT_V2) }, client);
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toMatchObject({ code: 'wrong_presence_code', requestId: expect.any(String) });
    expect(world.sim(COMPACT_V2).snapshot().doors[parcel.compartment]!.open).toBe(false);

    const badCode = await world.request(
      'POST',
      '/v1/pickups',
      { unit: COMPACT_V2, code: code === '000000' ? '000001' : '000000', phone, presenceCode: presenceNow(COMPACT_V2) },
      client,
    );
    expect(badCode.status).toBe(403);
    expect(badCode.body.error.code).toBe('wrong_code');

    const ok = await world.request('POST', '/v1/pickups', { unit: COMPACT_V2, code, phone: `+86 ${phone}`, presenceCode: presenceNow(COMPACT_V2) }, client);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ compartment: parcel.compartment, result: 'done', parcels: [{ id: parcel.id }] });
    await world.doorOpen(COMPACT_V2, parcel.compartment);
    const sim = world.sim(COMPACT_V2);
    sim.takeParcel(parcel.compartment);
    sim.closeDoor(parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
    await world.smsFor(`${parcel.id}.collected`);
    expect(await world.transitions(COMPACT_V2, parcel.id)).toEqual([
      'new>reserved',
      'reserved>depositing',
      'depositing>stored',
      'stored>collecting',
      'collecting>collected',
    ]);
  });

  it('two parcels for one phone share a compartment and, once both are stored, the latest code opens it for both', async () => {
    const phone = world.phone();
    const first = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone });
    const no = first.parcel.compartment as number;

    // The second deposit goes into the same compartment (it is the recipient's, the parcel fits).
    const dep = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone });
    expect(dep.status).toBe(201);
    expect(dep.body.compartment).toBe(no);
    await world.doorOpen(JSON_V1, no);
    await world.waitState(courier, dep.body.id, 'depositing');
    const sim = world.sim(JSON_V1);
    sim.putParcel(no);
    sim.closeDoor(no);
    await world.waitState(courier, dep.body.id, 'stored');
    expect((await world.parcel(courier, first.parcel.id)).state).toBe('stored');

    // The second stored SMS carries a new code, and the first parcel's recipient is told the new code too.
    const second = await world.smsFor(`${dep.body.id}.stored`);
    const code = codeIn(second);
    const reissued = await eventually(
      () => world.smsTo(phone).find((r) => (r.body as { id: string }).id.startsWith(`${first.parcel.id}.code-`)),
      8000,
      're-issued code SMS',
    );
    expect(codeIn(reissued)).toBe(code);

    // The old code opens nothing any more; the new one lists both parcels.
    const client = world.client();
    if (first.code !== code) {
      const old = await world.request('POST', '/v1/resident/parcels', { phone, code: first.code }, client);
      expect(old.status).toBe(403);
    }
    const list = await world.request('POST', '/v1/resident/parcels', { phone, code }, client);
    expect(list.status).toBe(200);
    expect(list.body.parcels.map((p: { id: string }) => p.id)).toEqual([first.parcel.id, dep.body.id]);

    await world.collectAtKeypad(JSON_V1, code, no);
    await world.waitState(courier, first.parcel.id, 'collected');
    await world.waitState(courier, dep.body.id, 'collected');
    await world.smsFor(`${first.parcel.id}.collected`);
    await world.smsFor(`${dep.body.id}.collected`);
    const c = (await world.unitState(JSON_V1)).compartments[no - 1];
    expect(c).toMatchObject({ doorOpen: false, occupied: false });
  });

  it('resident self-service: list with phone + code, wrong code 403, extend once by 48 h, then 409 already_extended', async () => {
    const phone = world.phone();
    const { parcel, code } = await world.storeParcel(courier, { unit: FRAME_485, size: 'S', phone });
    const client = world.client();

    const list = await world.request('POST', '/v1/resident/parcels', { phone, code }, client);
    expect(list.status).toBe(200);
    expect(list.body.parcels).toEqual([expect.objectContaining({ id: parcel.id, state: 'stored', unit: FRAME_485, deadline: parcel.deadline })]);
    const wrong = await world.request('POST', '/v1/resident/parcels', { phone, code: code === '123456' ? '654321' : '123456' }, client);
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('wrong_code');
    const noPhone = await world.request('POST', '/v1/resident/parcels', { phone: '12345', code }, client);
    expect(noPhone.status).toBe(400);
    expect(noPhone.body.error.message).toContain('phone');

    const ext = await world.request('POST', `/v1/resident/parcels/${parcel.id}/extend`, { phone, code }, client);
    expect(ext.status).toBe(200);
    expect(ext.body).toMatchObject({ id: parcel.id, state: 'stored', extended: true, deadline: parcel.deadline + 48 * HOUR });
    expect((await world.parcel(courier, parcel.id)).deadline).toBe(parcel.deadline + 48 * HOUR);
    const sms = await world.smsFor(`${parcel.id}.deadline-extended.${parcel.deadline + 48 * HOUR}`);
    expect(smsText(sms)).toContain('取件期限已延长');

    const twice = await world.request('POST', `/v1/resident/parcels/${parcel.id}/extend`, { phone, code }, client);
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('already_extended');
    expect((await world.parcel(courier, parcel.id)).deadline).toBe(parcel.deadline + 48 * HOUR);

    await world.collectAtKeypad(FRAME_485, code, parcel.compartment);
    await world.waitState(courier, parcel.id, 'collected');
  });

  it('frame-485: doors closed right behind a board status answer: the log and the state never go back to the older reading', async () => {
    // The DTU puts the status answer and the change report into one MQTT message; the answer is the older reading.
    const sim = world.sim(FRAME_485);
    let board1Polls = 0;
    let closeNext: (() => void) | null = null;
    const onCommand = (c: CommandInfo) => {
      // raw is the request frame in hex, `02 01 30 00 31 03`: STX, board address, ...
      if (c.op !== 'status' || !c.answered || c.raw.split(' ')[1] !== '01') return;
      board1Polls++;
      const close = closeNext;
      closeNext = null;
      close?.();
    };
    const closeBehindStatus = (no: number) => new Promise<void>((resolve) => (closeNext = () => (sim.closeDoor(no), resolve())));
    const doorLog = async (no: number, mark: string) =>
      ((await world.request('GET', `/v1/units/${FRAME_485}/events?limit=100`, undefined, STAFF)).body.events as { streamId: string; event: any }[])
        .filter((e) => streamAfter(e.streamId, mark) && e.event.compartment === no && (e.event.kind === 'door-opened' || e.event.kind === 'door-closed'))
        .map((e) => `${e.event.kind}${e.event.source.reconciled ? ' (reconciled)' : ''}`)
        .reverse();

    sim.on('command', onCommand);
    try {
      const dep = await world.deposit(courier, { unit: FRAME_485, size: 'S', phone: world.phone() });
      const no = dep.body.compartment as number;
      await world.doorOpen(FRAME_485, no);
      await world.waitState(courier, dep.body.id, 'depositing');
      const mark = (await world.request('GET', `/v1/units/${FRAME_485}/events?limit=1`, undefined, STAFF)).body.events[0].streamId as string;
      sim.putParcel(no);
      await closeBehindStatus(no);
      await world.waitState(courier, dep.body.id, 'stored');
      expect((await world.unitState(FRAME_485)).compartments[no - 1]).toMatchObject({ doorOpen: false, occupied: true });

      sim.typeCode(codeIn(await world.smsFor(`${dep.body.id}.stored`)));
      await world.doorOpen(FRAME_485, no);
      sim.takeParcel(no);
      await closeBehindStatus(no);
      await world.waitState(courier, dep.body.id, 'collected');
      expect((await world.unitState(FRAME_485)).compartments[no - 1]).toMatchObject({ doorOpen: false, occupied: false });

      // Two more polls of board 1 (the first one's answer applied): nothing was, or had to be, corrected.
      const polls = board1Polls;
      await eventually(() => board1Polls >= polls + 2, 8000, 'two more polls of board 1');
      expect((await world.unitState(FRAME_485)).compartments[no - 1]).toMatchObject({ doorOpen: false, occupied: false });
      expect(await doorLog(no, mark)).toEqual(['door-closed', 'door-opened', 'door-closed']);
    } finally {
      sim.off('command', onCommand);
    }
  });

  // Board 2 (compartments 13–24) puts nothing on the bus: it carries out the open (the L door springs open) but the
  // gateway never hears of it, nor gets an answer to a status request. Cancelling when the deposit window ends would
  // hand a compartment with the courier's parcel inside to the next deposit (the soak saw it: docs/reliability.md).
  const heldAfterWindow = async (unit: string) => {
    const held = () => world.stack.gw!.counters.get('lg_deposits_held_total', { unit });
    const before = held();
    return () => eventually(() => held() > before, 15_000, 'the sweep held the reservation (status request unanswered)');
  };

  it('a door opened without the gateway hearing of it: the reservation is kept until the unit answers; the parcel put in meanwhile is stored', async () => {
    const sim = world.sim(FRAME_485);
    sim.setFaults({ silentBoards: [2] });
    let id: string;
    try {
      const held = await heldAfterWindow(FRAME_485);
      const dep = await world.deposit(courier, { unit: FRAME_485, size: 'L', phone: world.phone() });
      expect(dep.status).toBe(201);
      expect(dep.body).toMatchObject({ state: 'reserved', compartment: 19 });
      id = dep.body.id;
      await world.doorOpen(FRAME_485, 19);
      sim.putParcel(19);
      sim.closeDoor(19);
      await held();
      expect((await world.parcel(courier, id)).state).toBe('reserved');
    } finally {
      sim.setFaults({ silentBoards: [] });
    }
    // The board talks again: the next reading shows 19 shut with a parcel inside; the deposit is stored, not cancelled.
    const stored = await world.waitState(courier, id, 'stored', 15_000);
    expect(stored.compartment).toBe(19);
    expect(await world.transitions(FRAME_485, id)).toEqual(['new>reserved', 'reserved>depositing', 'depositing>stored']);
    await world.smsFor(`${id}.stored`);
  });

  it('a door that never opened: once the unit answers that the compartment is shut and empty, the sweep cancels and frees it', async () => {
    const sim = world.sim(FRAME_485);
    sim.setFaults({ silentBoards: [2] });
    let id: string;
    try {
      const held = await heldAfterWindow(FRAME_485);
      const dep = await world.deposit(courier, { unit: FRAME_485, size: 'L', phone: world.phone() });
      expect(dep.status).toBe(201);
      id = dep.body.id;
      expect(dep.body.compartment).toBe(20);
      // the lock released; the courier shut it again with nothing inside (the gateway heard neither)
      await world.doorOpen(FRAME_485, 20);
      sim.closeDoor(20);
      await held();
      expect((await world.parcel(courier, id)).state).toBe('reserved');
    } finally {
      sim.setFaults({ silentBoards: [] });
    }
    const cancelled = await world.waitState(courier, id, 'cancelled', 30_000);
    expect(cancelled.reason).toBe('no-door-open');
    await world.hook('/hook', 'deposit-cancelled', id);
    expect(await world.transitions(FRAME_485, id)).toEqual(['new>reserved', 'reserved>cancelled']);
    // 20 is free once more: the next L deposit gets it
    const next = await world.deposit(courier, { unit: FRAME_485, size: 'L', phone: world.phone() });
    expect(next.status).toBe(201);
    expect(next.body.compartment).toBe(20);
    await world.doorOpen(FRAME_485, 20);
    await world.waitState(courier, next.body.id, 'depositing');
    sim.closeDoor(20);
    await world.waitState(courier, next.body.id, 'cancelled');
  });

  it("a shared compartment's second deposit whose door never opened is cancelled once the unit answers it shut (its sensor already showed the first parcel)", async () => {
    const phone = world.phone();
    const first = await world.storeParcel(courier, { unit: FRAME_485, size: 'L', phone });
    const no = first.parcel.compartment as number;
    expect(no).toBeGreaterThanOrEqual(19); // board 2
    const sim = world.sim(FRAME_485);
    sim.setFaults({ silentBoards: [2] });
    let id: string;
    try {
      const held = await heldAfterWindow(FRAME_485);
      const dep = await world.deposit(courier, { unit: FRAME_485, size: 'L', phone });
      expect(dep.status).toBe(201);
      expect(dep.body.compartment).toBe(no);
      id = dep.body.id;
      await world.doorOpen(FRAME_485, no);
      sim.closeDoor(no); // the courier changed their mind: nothing more went in
      await held();
    } finally {
      sim.setFaults({ silentBoards: [] });
    }
    const cancelled = await world.waitState(courier, id, 'cancelled', 30_000);
    expect(cancelled.reason).toBe('no-door-open');
    expect((await world.parcel(courier, first.parcel.id)).state).toBe('stored');
  });
});
