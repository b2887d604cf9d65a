import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { Stack } from '../support/stack.js';

/** Bytes written to the server as they are; resolves with everything it answered before closing. */
function rawRequest(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

const STAFF = { authorization: 'Bearer dev-staff-token-not-for-production' };

/** The HTTP surface itself: OpenAPI document, reference page, error envelope, staff-only pages. */
describe('HTTP API surface', () => {
  const stack = new Stack('embedded');
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('documents every route at /openapi.json and renders it at /docs', async () => {
    const { status, body } = await stack.get('/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    const paths = Object.keys(body.paths);
    for (const p of [
      '/healthz',
      '/readyz',
      '/v1/units',
      '/v1/units/{id}',
      '/v1/units/{id}/events',
      '/v1/deposits',
      '/v1/deposits/{id}',
      '/v1/returns',
      '/v1/pickups',
      '/v1/resident/parcels',
      '/v1/resident/parcels/{id}/extend',
      '/v1/resident/preferences',
      '/v1/admin/couriers',
      '/v1/admin/couriers/{id}',
      '/v1/admin/residents/{phone}/preferences',
      '/v1/admin/parcels/{id}',
      '/v1/admin/notifications/failures',
      '/v1/units/{id}/commands',
      '/v1/units/{id}/keypad-lock',
      '/v1/units/{id}/service',
      '/v1/units/{id}/compartments/{no}/service',
    ]) {
      expect(paths).toContain(p);
    }
    expect(body.paths['/v1/deposits'].post.requestBody.content['application/json'].schema).toBeTruthy();
    const docs = await stack.get('/docs');
    expect(docs.status).toBe(200);
    expect(docs.body).toContain('/v1/deposits');
    expect(docs.body).toContain('Deposit a parcel');
  });

  it('answers every error in one envelope with a request id', async () => {
    const missing = await stack.get('/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'not_found', requestId: expect.any(String) });

    const badJson = await stack.get('/v1/pickups', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"unit":' });
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.code).toBe('validation_failed');

    const badField = await stack.post('/v1/pickups', { unit: 'LSN-0001', code: '12ab56', phone: '12345', presenceCode: '1' });
    expect(badField.status).toBe(400);
    expect(badField.body.error.message).toMatch(/code: must be 6 digits/);
    expect(badField.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['code', 'phone', 'presenceCode']);

    const tooBig = await stack.post('/v1/pickups', { pad: 'x'.repeat(70_000) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.code).toBe('payload_too_large');

    const badQuery = await stack.staffGet('/v1/units/LSN-0001/events?limit=0');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toMatch(/^limit:/);

    // refused by Node's HTTP parser before the app: still the envelope
    const hugeHeaders = await stack.get('/v1/pickups', { headers: { 'x-pad': 'x'.repeat(20_000) } });
    expect(hugeHeaders.status).toBe(431);
    expect(hugeHeaders.body.error).toMatchObject({ code: 'headers_too_large', requestId: expect.any(String) });
    const garbled = await rawRequest(stack.gw!.url, 'NOT A REQUEST\r\n\r\n');
    expect(garbled).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(garbled.slice(garbled.indexOf('\r\n\r\n') + 4)).error.code).toBe('bad_request');
  });

  it('keeps staff routes and Bull Board behind the staff token', async () => {
    expect((await stack.get('/v1/admin/couriers')).status).toBe(401);
    expect((await stack.get('/v1/admin/couriers', { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect((await stack.get('/v1/admin/couriers', { headers: STAFF })).status).toBe(200);
    const board = await stack.get('/admin/queues', { headers: STAFF });
    expect(board.status).toBe(200);
    expect(String(board.body)).toContain('<html');
    const basic = 'Basic ' + Buffer.from('staff:dev-staff-token-not-for-production').toString('base64');
    expect((await stack.get('/admin/queues', { headers: { authorization: basic } })).status).toBe(200);
    const denied = await fetch(stack.gw!.url + '/admin/queues');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await stack.post('/v1/units/LSN-0001/commands', { op: 'status' })).status).toBe(401);
  });

  it('serves the live overview page', async () => {
    const page = await stack.get('/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('里厍二村北区');
    expect(page.body).toContain('麒麟新村');
  });

  it('refuses a courier token that was revoked', async () => {
    const issued = await stack.post('/v1/admin/couriers', { name: 'Li', carrier: 'JD' }, STAFF);
    expect(issued.status).toBe(201);
    const token = issued.body.token as string;
    const auth = { authorization: `Bearer ${token}` };
    expect((await stack.get('/v1/deposits/p_none', { headers: auth })).status).toBe(404);
    const del = await stack.get(`/v1/admin/couriers/${issued.body.courier.id}`, { method: 'DELETE', headers: STAFF });
    expect(del.status).toBe(204);
    expect((await stack.get('/v1/deposits/p_none', { headers: auth })).status).toBe(401);
  });
});
