import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { SimulatedUnit } from '../../../simulators/index.js';
import { isIP } from 'node:net';
import { staffAuth, type StaffAuthDeps } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, json } from '../schemas.js';
import type { ConsoleText } from '../../notify/channels/console.js';
import { normalizePhone } from '../../notify/phone.js';
import { isoTime, withIsoTimes } from '../time.js';

/** Development stand-in for residents' phones: the last texts the console channel "sent" to each number. */
export class DevPhones {
  private readonly texts = new Map<string, ConsoleText[]>();
  add(t: ConsoleText): void {
    const list = this.texts.get(t.to) ?? [];
    list.unshift(t);
    this.texts.set(t.to, list.slice(0, 50));
  }
  list(phone: string): ConsoleText[] {
    return this.texts.get(phone) ?? [];
  }
}

const Action = z
  .discriminatedUnion('action', [
    z.object({ action: z.literal('code'), code: z.string().regex(/^\d{1,16}$/, '1 to 16 digits') }),
    z.object({ action: z.literal('put'), no: z.number().int().min(1) }),
    z.object({ action: z.literal('take'), no: z.number().int().min(1) }),
    z.object({ action: z.literal('close'), no: z.number().int().min(1), occupied: z.boolean().optional() }),
    z.object({ action: z.literal('force'), no: z.number().int().min(1) }),
  ])
  .openapi('SimulatedPersonAction');

/** Whether HOST only listens on this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Only with SIMULATORS=on (never in production): look at a simulated unit (its screen shows the presence code) and
 * act as a person standing at it (type a code, put a parcel in, take it out, close a door). On a loopback HOST they
 * are open, as the README's walk-through uses them; bound to any other address (the network could reach them: read
 * the presence codes, type codes, force doors) they need staff credentials (a member's token or session, or in
 * development the STAFF_TOKEN bootstrap).
 */
export function devRoutes(sims: readonly SimulatedUnit[], access: { host: string; staff: StaffAuthDeps }, phones: DevPhones = new DevPhones()) {
  const app = new OpenAPIHono();
  if (!isLoopbackHost(access.host)) app.use('/dev/*', staffAuth(access.staff));
  const find = (id: string) => {
    const s = sims.find((x) => x.unit.id === id);
    if (!s) throw new ApiError(404, 'not_found', `no simulated unit ${id}`);
    return s;
  };
  /** what a person at the unit sees; the screen's `until` as an ISO time like every API time */
  const view = (s: SimulatedUnit) => {
    const snap = s.snapshot();
    return { ...snap, display: snap.display ? withIsoTimes(snap.display) : null } as unknown as Record<string, unknown>;
  };
  const Param = z.object({ unit: z.string().min(1).max(64).openapi({ param: { name: 'unit', in: 'path' } }) });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/dev/sims/{unit}',
      tags: ['simulators'],
      summary: 'What a simulated unit shows: screen, keypad, doors',
      request: { params: Param },
      responses: { 200: json(z.record(z.string(), z.unknown()), 'the unit as a person sees it'), 401: json(ErrorSchema, 'staff credentials required (HOST is not loopback)'), 404: json(ErrorSchema, 'no such simulated unit') },
    }),
    (c) => c.json(view(find(c.req.valid('param').unit)), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/dev/sims/{unit}/actions',
      tags: ['simulators'],
      summary: 'Act as a person at a simulated unit',
      request: { params: Param, body: { content: { 'application/json': { schema: Action } }, required: true } },
      responses: { 200: json(z.record(z.string(), z.unknown()), 'done; the unit as a person sees it now'), 401: json(ErrorSchema, 'staff credentials required (HOST is not loopback)'), 404: json(ErrorSchema, 'no such unit'), 409: json(ErrorSchema, 'not possible now') },
    }),
    (c) => {
      const sim = find(c.req.valid('param').unit);
      const a = c.req.valid('json');
      try {
        if (a.action === 'code') sim.typeCode(a.code);
        else if (a.action === 'put') sim.putParcel(a.no);
        else if (a.action === 'take') sim.takeParcel(a.no);
        else if (a.action === 'close') sim.closeDoor(a.no, a.occupied);
        else sim.forceDoor(a.no);
      } catch (err) {
        throw new ApiError(409, 'conflict', (err as Error).message);
      }
      return c.json(view(sim), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/dev/phones/{phone}/sms',
      tags: ['simulators'],
      summary: "A resident's phone: the texts sent to it (newest first) while no SMS provider is set",
      request: { params: z.object({ phone: z.string().min(1).max(20).openapi({ param: { name: 'phone', in: 'path' }, example: '13800138000' }) }) },
      responses: {
        200: json(
          z.object({
            phone: z.string(),
            texts: z.array(z.object({ at: z.string(), kind: z.string(), parcel: z.string().nullable(), text: z.string() })),
          }),
          'the texts',
        ),
        400: json(ErrorSchema, 'not a mobile number'),
      },
    }),
    (c) => {
      const phone = normalizePhone(c.req.valid('param').phone);
      if (!phone) throw new ApiError(400, 'validation_failed', 'phone: must be a mainland mobile number');
      const texts = phones.list(phone).map((t) => ({ at: isoTime(t.at), kind: t.kind, parcel: t.parcelId, text: t.text }));
      return c.json({ phone, texts }, 200);
    },
  );
  return app;
}
