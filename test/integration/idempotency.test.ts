import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/stack.js';
import { JSON_V1, ParcelWorld, presenceNow, type TestCourier } from '../support/parcels.js';

/**
 * Defect 4 of issue 7: a pickup's Idempotency-Key was shared between residents. The second resident sending the
 * same key was answered "done" with the first resident's result while their door stayed shut, and their compartment
 * stayed marked "being opened" until the intent timed out. A key now counts only for its caller and its request.
 */
describe('pickups: Idempotency-Key is scoped to the caller and the request', () => {
  const world = new ParcelWorld({}, [{ id: JSON_V1 }]);
  let courier: TestCourier;
  /** open commands the unit carried out (not the ones it recognised as repeats), by compartment; each test clears it */
  const opens: number[] = [];

  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
    world.sim(JSON_V1).on('command', (c: { op: string; duplicate?: boolean; raw: string }) => {
      if (c.op === 'open' && !c.duplicate) opens.push((JSON.parse(c.raw) as { args: { no: number } }).args.no);
    });
  });
  afterAll(() => world.stop());

  const pickup = (body: { code: string; phone: string }, key: string, client: Record<string, string>) =>
    world.request('POST', '/v1/pickups', { unit: JSON_V1, presenceCode: presenceNow(JSON_V1), ...body }, { 'idempotency-key': key, ...client });

  it('two residents using the same key each get their own door opened, and no compartment is left blocked', async () => {
    const [pa, pb] = [world.phone(), world.phone()];
    const a = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: pa });
    const b = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: pb });
    expect(a.parcel.compartment).not.toBe(b.parcel.compartment);
    opens.length = 0; // the deposits' own opens
    const key = 'retry-key-1';

    const ra = await pickup({ code: a.code, phone: pa }, key, world.client());
    expect(ra.status).toBe(200);
    expect(ra.body).toMatchObject({ compartment: a.parcel.compartment, result: 'done' });
    await world.doorOpen(JSON_V1, a.parcel.compartment);

    // the second resident, same key (before the fix: 409, and their compartment stayed "being opened")
    const rb = await pickup({ code: b.code, phone: pb }, key, world.client());
    expect(rb.status).toBe(200);
    expect(rb.body).toMatchObject({ compartment: b.parcel.compartment, result: 'done', parcels: [{ id: b.parcel.id }] });
    await world.doorOpen(JSON_V1, b.parcel.compartment);
    await world.waitState(courier, b.parcel.id, 'collecting');
    expect(opens.filter((n) => n === b.parcel.compartment)).toHaveLength(1);
  });

  it('a key used for an earlier parcel in the same compartment does not answer "done" with the door shut', async () => {
    const [pa, pb] = [world.phone(), world.phone()];
    const a = await world.storeParcel(courier, { unit: JSON_V1, size: 'M', phone: pa });
    const key = 'retry-key-2';
    expect((await pickup({ code: a.code, phone: pa }, key, world.client())).status).toBe(200);
    await world.doorOpen(JSON_V1, a.parcel.compartment);
    world.sim(JSON_V1).takeParcel(a.parcel.compartment);
    world.sim(JSON_V1).closeDoor(a.parcel.compartment);
    await world.waitState(courier, a.parcel.id, 'collected');

    // the freed compartment is the smallest free M again: the next resident's parcel goes there
    const b = await world.storeParcel(courier, { unit: JSON_V1, size: 'M', phone: pb });
    expect(b.parcel.compartment).toBe(a.parcel.compartment);
    opens.length = 0;
    // before the fix: the same command id and the same command, so the unit was not asked: "done", door shut
    const rb = await pickup({ code: b.code, phone: pb }, key, world.client());
    expect(rb.status).toBe(200);
    expect(rb.body.result).toBe('done');
    await world.doorOpen(JSON_V1, b.parcel.compartment);
    expect(opens).toEqual([b.parcel.compartment]);
  });

  it('the same request sent again with its key opens the door once and answers the same', async () => {
    const phone = world.phone();
    const p = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone });
    opens.length = 0;
    const client = world.client();
    const first = await pickup({ code: p.code, phone }, 'same-request', client);
    const again = await pickup({ code: p.code, phone }, 'same-request', client);
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ compartment: p.parcel.compartment, result: 'done' });
    await world.doorOpen(JSON_V1, p.parcel.compartment);
    expect(opens.filter((n) => n === p.parcel.compartment)).toHaveLength(1);
  });

  it('the same key with a different request answers 422 idempotency_key_reused and opens nothing', async () => {
    const phone = world.phone();
    const one = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone, shareCompartment: false });
    const two = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone, shareCompartment: false });
    expect(one.parcel.compartment).not.toBe(two.parcel.compartment);
    opens.length = 0;
    const client = world.client();

    // a mistyped code does not use the key up: corrected under the same key, it opens
    const typo = await pickup({ code: one.code === '000000' ? '000001' : '000000', phone }, 'k-reuse', client);
    expect(typo.status).toBe(403);
    const done = await pickup({ code: one.code, phone }, 'k-reuse', client);
    expect(done.status).toBe(200);
    expect(done.body.compartment).toBe(one.parcel.compartment);

    const reused = await pickup({ code: two.code, phone }, 'k-reuse', client);
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'idempotency_key_reused', requestId: expect.any(String) });
    expect(reused.body.error.message).toMatch(/Idempotency-Key/);

    // nothing was started for the second compartment: with a key of its own it opens at once
    const fresh = await pickup({ code: two.code, phone }, 'k-fresh', client);
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ compartment: two.parcel.compartment, result: 'done' });
    await world.doorOpen(JSON_V1, two.parcel.compartment);
    await eventually(() => opens.filter((n) => n === two.parcel.compartment).length === 1, 5000, 'one open of the second compartment');
  });

  it('any key the header allows works, also one with "|" (json-v1 signs "cid|op|exp|args": a raw key broke it)', async () => {
    const phone = world.phone();
    const p = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone });
    const r = await pickup({ code: p.code, phone }, 'retry|1', world.client());
    expect(r.status).toBe(200);
    expect(r.body.result).toBe('done');
    await world.doorOpen(JSON_V1, p.parcel.compartment);
  });

  it('an empty key (one every client would share) is refused naming the header', async () => {
    const r = await world.request('POST', '/v1/pickups', { unit: JSON_V1, code: '123456', phone: world.phone(), presenceCode: '1234' }, {
      'idempotency-key': '',
      ...world.client(),
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('validation_failed');
    expect(r.body.error.message).toMatch(/idempotency-key/);
  });
});
