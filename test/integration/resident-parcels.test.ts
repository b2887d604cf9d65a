import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_V1, ParcelWorld, HOUR, type TestCourier } from '../support/parcels.js';
import { otpIn } from '../support/signin.js';
import { eventually } from '../support/stack.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/**
 * A resident signed in by SMS against the real stack (simulated units, SMS to a receiver): their own parcels only,
 * extending one, preferences with consent; and phone + pickup code still working where it did.
 */
describe('residents signed in by SMS', () => {
  const world = new ParcelWorld();
  let courier: TestCourier;
  beforeAll(async () => {
    await world.start();
    courier = await world.courier();
  }, 60_000);
  afterAll(() => world.stop());

  const signIn = async (phone: string): Promise<Record<string, string>> => {
    const texts = () => world.smsTo(phone).filter((r) => (r.body as { id: string }).id.startsWith('otp.'));
    const before = texts().length;
    expect((await world.request('POST', '/v1/resident/otp', { phone }, world.client())).status).toBe(202);
    const sms = await eventually(() => texts()[before], 8000, 'sign-in text');
    const r = await world.request('POST', '/v1/resident/session', { phone, code: otpIn(sms) });
    expect(r.status).toBe(201);
    return bearer(r.body.token);
  };

  it('lists only my own parcels, live and recently collected, and extends only mine', async () => {
    const me = world.phone();
    const neighbour = world.phone();
    const mine = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: me, shareCompartment: false });
    const kept = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: me, shareCompartment: false });
    const theirs = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone: neighbour });
    await world.collectAtKeypad(JSON_V1, mine.code, mine.parcel.compartment);
    await world.waitState(courier, mine.parcel.id, 'collected');

    const auth = await signIn(me);
    const list = await world.request('GET', '/v1/resident/parcels', undefined, auth);
    expect(list.status).toBe(200);
    expect(list.body.parcels.map((p: { id: string; state: string }) => [p.id, p.state]).sort()).toEqual(
      [
        [mine.parcel.id, 'collected'],
        [kept.parcel.id, 'stored'],
      ].sort(),
    );
    expect(JSON.stringify(list.body)).not.toContain(theirs.parcel.id);
    expect(JSON.stringify(list.body)).not.toContain(me); // phone tails only

    const foreign = await world.request('POST', `/v1/resident/parcels/${theirs.parcel.id}/extend`, undefined, auth);
    expect(foreign.status).toBe(404);
    const ended = await world.request('POST', `/v1/resident/parcels/${mine.parcel.id}/extend`, undefined, auth);
    expect(ended.status).toBe(409);
    expect(ended.body.error.code).toBe('not_waiting');
    const ext = await world.request('POST', `/v1/resident/parcels/${kept.parcel.id}/extend`, undefined, auth);
    expect(ext.status).toBe(200);
    expect(ext.body.extended).toBe(true);
    expect(ext.body.deadline).toBe(kept.parcel.deadline + 48 * HOUR);
    expect((await world.request('POST', `/v1/resident/parcels/${kept.parcel.id}/extend`, undefined, auth)).body.error.code).toBe('already_extended');
    expect((await world.request('GET', '/v1/resident/parcels', undefined, bearer('lgr_forged'))).status).toBe(401);
  });

  it('sets preferences with consent from a token, for a resident with no parcel at all', async () => {
    const phone = world.phone();
    const auth = await signIn(phone);
    const put = await world.request('PUT', '/v1/resident/preferences', { consent: 'refused', lang: 'en' }, auth);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ consent: 'refused', lang: 'en', updatedAt: expect.any(Number) });
    expect((await world.request('GET', '/v1/resident/preferences', undefined, auth)).body.consent).toBe('refused');
    const refused = await world.deposit(courier, { unit: JSON_V1, size: 'S', phone });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('consent_refused');
    // without a token and without a code: refused, naming what is missing
    const anon = await world.request('PUT', '/v1/resident/preferences', { consent: 'allowed' });
    expect(anon.status).toBe(400);
    expect(anon.body.error.message).toMatch(/phone: required without a resident token; code: required/);
  });

  it('keeps phone + pickup code working for listing, extending and preferences', async () => {
    const phone = world.phone();
    const { parcel, code } = await world.storeParcel(courier, { unit: JSON_V1, size: 'S', phone });
    const client = world.client();
    expect((await world.request('POST', '/v1/resident/parcels', { phone, code }, client)).body.parcels.map((p: { id: string }) => p.id)).toEqual([parcel.id]);
    const ext = await world.request('POST', `/v1/resident/parcels/${parcel.id}/extend`, { phone, code }, client);
    expect(ext.status).toBe(200);
    const wrong = await world.request('PUT', '/v1/resident/preferences', { phone, code: code === '000000' ? '000001' : '000000', lowCompartment: true }, client);
    expect(wrong.status).toBe(403);
    const prefs = await world.request('PUT', '/v1/resident/preferences', { phone, code, lowCompartment: true }, client);
    expect(prefs.status).toBe(200);
    expect(prefs.body.lowCompartment).toBe(true);
  });
});
