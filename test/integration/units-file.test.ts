import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { Stack, eventually } from '../support/stack.js';

/**
 * UNITS_FILE drives the whole gateway: the embedded broker's accounts, the drivers, the simulators `npm start` runs,
 * the units of the API and the deposit's low compartments.
 */
const dir = mkdtempSync(join(tmpdir(), 'lg-units-file-'));
const [north, south] = UNITS as [(typeof UNITS)[number], (typeof UNITS)[number]];
// two of the real units (their credentials exist), one renamed and with its own low compartments
const file = join(dir, 'units.json');
writeFileSync(file, JSON.stringify([{ ...north, siteName: { zh: '测试北区', en: 'Test North' }, low: [30, 31] }, south]));

let stack: Stack;
beforeAll(async () => {
  stack = await new Stack('embedded', { UNITS_FILE: file, SIMULATORS: 'on', SIM_AUTOPILOT: 'off' }).start();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('UNITS_FILE', () => {
  it('the gateway serves exactly the units of the file: drivers, simulators, API', async () => {
    const gw = stack.gw!;
    expect([...gw.bus.drivers.keys()]).toEqual([north.id, south.id]);
    expect(gw.simulators.map((s) => s.unit.id)).toEqual([north.id, south.id]);
    const units = await eventually(async () => {
      const res = await fetch(`${gw.url}/v1/units`);
      const body = (await res.json()) as { units?: { id: string; online: boolean; siteName?: { en: string } }[] } | { id: string; online: boolean }[];
      const list = Array.isArray(body) ? body : (body.units ?? []);
      return list.length === 2 && list.every((u) => u.online) ? list : null;
    }, 20_000, 'both units online');
    expect(units.map((u) => u.id).sort()).toEqual([north.id, south.id].sort());
  });

  it("a resident who asked for a low compartment gets one of the file's low compartments", async () => {
    const gw = stack.gw!;
    const staff = { authorization: 'Bearer dev-staff-token-not-for-production', 'content-type': 'application/json' };
    const courier = (await (await fetch(`${gw.url}/v1/admin/couriers`, { method: 'POST', headers: staff, body: JSON.stringify({ name: 'Units File', carrier: 'SF' }) })).json()) as { token: string };
    const phone = '13700137001';
    const prefs = await fetch(`${gw.url}/v1/admin/residents/${phone}/preferences`, { method: 'PUT', headers: staff, body: JSON.stringify({ lowCompartment: true }) });
    expect(prefs.status, await prefs.text()).toBe(200);
    const res = await fetch(`${gw.url}/v1/deposits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${courier.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ unit: north.id, size: 'L', trackingNumber: 'SF-UNITS-FILE-1', carrier: 'SF', phone }),
    });
    const body = (await res.json()) as { compartment: number };
    expect(res.status, JSON.stringify(body)).toBe(201);
    // 30: the file's lowest L; devices/units.ts's list for this unit would have given 31
    expect(body.compartment).toBe(30);
  });
});
