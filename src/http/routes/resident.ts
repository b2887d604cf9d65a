import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { residentAuth, residentToken, type ResidentEnv } from '../auth.js';
import type { ParcelApi, ResidentPrefsStore, ResidentSessions, RuntimeDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, json } from '../schemas.js';
import { Time, isoTime, withIsoTimes } from '../time.js';
import { Phone, ParcelView, parcelView } from './parcels.js';

const Code = z.string().regex(/^\d{6}$/, 'must be 6 digits').openapi({ example: '482913' });
const Prefs = z
  .object({ lowCompartment: z.boolean(), lang: z.enum(['zh', 'en']), consent: z.enum(['allowed', 'refused']), updatedAt: Time.nullable() })
  .openapi('ResidentPreferences');
const PrefsChange = z.object({ lowCompartment: z.boolean().optional(), lang: z.enum(['zh', 'en']).optional(), consent: z.enum(['allowed', 'refused']).optional() });
/** Without a resident token, phone + one of my pickup codes prove who I am (as before sign-in by SMS existed). */
const CodeProof = z.object({ phone: Phone.optional(), code: Code.optional() });
const residentSecurity: Record<string, string[]>[] = [{ residentToken: [] }];
const eitherSecurity: Record<string, string[]>[] = [{ residentToken: [] }, {}];

const TEXT: Record<number, string> = {
  400: 'a field is invalid (named in the message)',
  401: 'missing, unknown or expired resident token',
  403: 'wrong code or phone',
  404: 'not found',
  409: 'conflict (already extended, not waiting)',
  429: 'too many requests or wrong tries (Retry-After)',
};
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, json(ErrorSchema, TEXT[c] ?? 'error')])) as Record<number, ReturnType<typeof json>>;
const ParcelId = z.object({ id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' } }) });

/**
 * Residents: sign in by SMS (a one-time code, then a short-lived `lgr_…` token), and self-service with that token
 * or, where it worked before, with phone + one of their pickup codes.
 */
export function residentRoutes(deps: { signIn: ResidentSessions; parcels: ParcelApi; residents: ResidentPrefsStore; runtime: RuntimeDeps }) {
  const app = new OpenAPIHono<ResidentEnv>();
  const svc = deps.parcels;
  const now = () => deps.runtime.clock.now();
  const auth = residentAuth(deps.signIn);
  app.openAPIRegistry.registerComponent('securitySchemes', 'residentToken', { type: 'http', scheme: 'bearer', description: 'lgr_… from POST /v1/resident/session' });
  app.use('/v1/resident/session', async (c, next) => (c.req.method === 'DELETE' ? auth(c, next) : next()));
  app.use('/v1/resident/preferences', async (c, next) => (c.req.method === 'GET' ? auth(c, next) : next()));
  app.use('/v1/resident/parcels', async (c, next) => (c.req.method === 'GET' ? auth(c, next) : next()));

  /** The phone a request proves: its resident token if it has one, else phone + pickup code from the body. */
  const prove = async (c: Context, body: z.infer<typeof CodeProof>): Promise<{ phone: string; code?: string }> => {
    const token = residentToken(c);
    if (token) {
      const s = await deps.signIn.authenticate(token);
      if (!s) throw new ApiError(401, 'unauthorized', 'the resident token is unknown or expired: sign in again');
      return { phone: s.phone };
    }
    const missing = (['phone', 'code'] as const).filter((f) => !body[f]);
    if (missing.length) {
      const fields = missing.map((field) => ({ field, problem: 'required without a resident token' }));
      throw new ApiError(400, 'validation_failed', fields.map((f) => `${f.field}: ${f.problem}`).join('; '), { fields, in: 'json' });
    }
    return { phone: body.phone!, code: body.code! };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/resident/otp',
      tags: ['residents'],
      summary: 'Text me a 6-digit sign-in code (valid 5 minutes, 5 tries)',
      description: 'At most 3 codes per phone per 15 minutes, and OTP_PER_ADDRESS per client address. A new code replaces the previous one.',
      request: { body: { content: { 'application/json': { schema: z.object({ phone: Phone }).openapi('OtpRequest') } }, required: true } },
      responses: { 202: json(z.object({ expiresAt: Time }), 'the text is on its way'), ...errors(400, 429) },
    }),
    async (c) => {
      const r = await deps.signIn.requestCode(c.req.valid('json').phone, deps.runtime.clientAddress(c));
      if (!r.ok) {
        const retryAfterS = Math.ceil(r.retryAfterMs / 1000);
        c.header('Retry-After', String(retryAfterS));
        throw new ApiError(429, 'rate_limited', `too many codes asked for from this ${r.scope}; try again later`, { scope: r.scope, retryAfterS });
      }
      return c.json({ expiresAt: isoTime(r.expiresAt) }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/resident/session',
      tags: ['residents'],
      summary: 'Sign in with the texted code: returns a short-lived resident token (lgr_…, RESIDENT_SESSION_MINUTES)',
      request: { body: { content: { 'application/json': { schema: z.object({ phone: Phone, code: Code }).openapi('ResidentSignIn') } }, required: true } },
      responses: { 201: json(z.object({ token: z.string(), expiresAt: Time }).openapi('ResidentSession'), 'signed in'), ...errors(400, 403, 429) },
    }),
    async (c) => {
      const { phone, code } = c.req.valid('json');
      const r = await deps.signIn.verify(phone, code);
      if (r.ok) return c.json({ token: r.token, expiresAt: isoTime(r.expiresAt) }, 201);
      if (r.reason === 'wrong') throw new ApiError(403, 'wrong_code', 'wrong code', { triesLeft: r.triesLeft });
      if (r.reason === 'used_up') throw new ApiError(429, 'locked_out', 'too many wrong tries: this code no longer works; ask for a new one', { reason: r.reason });
      throw new ApiError(403, 'wrong_code', 'no valid code for this phone (expired or never sent); ask for a new one', { reason: r.reason });
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/resident/session',
      tags: ['residents'],
      security: residentSecurity,
      summary: 'Sign out (the token stops working)',
      responses: { 204: { description: 'signed out' }, ...errors(401) },
    }),
    async (c) => {
      await deps.signIn.signOut(residentToken(c)!);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/resident/parcels',
      tags: ['residents'],
      security: residentSecurity,
      summary: 'My parcels: those waiting or under way, and those ended in the last 30 days (newest first)',
      responses: { 200: json(z.object({ parcels: z.array(ParcelView) }), 'my parcels'), ...errors(401) },
    }),
    async (c) => {
      const parcels = await svc.residentHistory(c.var.resident.phone, now() - 30 * 24 * 3600_000);
      return c.json({ parcels: parcels.map((p) => parcelView(svc, p)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/resident/parcels',
      tags: ['residents'],
      summary: 'My waiting parcels: phone + one of my pickup codes (never by phone alone)',
      request: { body: { content: { 'application/json': { schema: z.object({ phone: Phone, code: Code }).openapi('ResidentProof') } }, required: true } },
      responses: { 200: json(z.object({ parcels: z.array(ParcelView) }), 'waiting parcels'), ...errors(400, 403, 429) },
    }),
    async (c) => {
      const { phone, code } = c.req.valid('json');
      const parcels = await svc.residentParcels(phone, code, deps.runtime.clientAddress(c));
      return c.json({ parcels: parcels.map((p) => parcelView(svc, p)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/resident/parcels/{id}/extend',
      tags: ['residents'],
      security: eitherSecurity,
      summary: 'Extend the pickup deadline once (EXTEND_HOURS): with my resident token, or phone + one of my pickup codes',
      request: { params: ParcelId, body: { content: { 'application/json': { schema: CodeProof.openapi('ExtendRequest') } }, required: false } },
      responses: { 200: json(ParcelView, 'the new deadline'), ...errors(400, 401, 403, 404, 409, 429) },
    }),
    async (c) => {
      const id = c.req.valid('param').id;
      const { phone, code } = await prove(c, c.req.valid('json'));
      const p = code ? await svc.extend(phone, code, id, deps.runtime.clientAddress(c)) : await svc.extendOwn(phone, id);
      return c.json(parcelView(svc, p), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/resident/preferences',
      tags: ['residents'],
      security: residentSecurity,
      summary: 'My preferences: low compartment, language, consent to locker delivery',
      responses: { 200: json(Prefs, 'mine'), ...errors(401) },
    }),
    async (c) => c.json(withIsoTimes(await deps.residents.prefs(c.var.resident.phone)), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/resident/preferences',
      tags: ['residents'],
      security: eitherSecurity,
      summary: 'Set my preferences (consent included): with my resident token, or phone + one of my pickup codes',
      description: 'Residents without a parcel sign in by SMS first (or ask the property office: staff route).',
      request: { body: { content: { 'application/json': { schema: CodeProof.extend(PrefsChange.shape).openapi('PreferencesRequest') } }, required: true } },
      responses: { 200: json(Prefs, 'saved'), ...errors(400, 401, 403, 429) },
    }),
    async (c) => {
      const { phone: _p, code: _c, ...change } = c.req.valid('json');
      const { phone, code } = await prove(c, c.req.valid('json'));
      if (code) await svc.residentParcels(phone, code, deps.runtime.clientAddress(c));
      return c.json(withIsoTimes(await deps.residents.setPrefs(phone, change, now())), 200);
    },
  );
  return app;
}
