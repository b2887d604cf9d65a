import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { html } from 'hono/html';
import type { Context } from 'hono';
import type { LoginResult, StaffService } from '../../staff/service.js';
import { staffAuth, type StaffAuthDeps, type StaffEnv } from '../auth.js';
import { clearSessionCookie, readSessionCookie, sameOriginForms, setSessionCookie } from '../csrf.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, json } from '../schemas.js';
import { recordStaffAction } from '../staff-actions.js';
import { Time, isoTime, withIsoTimes } from '../time.js';
import { IdParam, Identity, IssuedToken, Password, TokenRequest, TokenView, mapStaffError, staffErrors, staffSecurity } from './staff-schemas.js';

const LoginBody = z.object({ name: z.string().trim().min(1).max(40), password: z.string().min(1).max(200) });

/** Only a path on this site: `/console/x`, never `//evil.example` or `https://…`. */
const safeNext = (next: string | undefined) => (next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/console');

/** Sign-in and self-service for every staff member: login, logout, who am I, own password and API tokens. */
export function staffRoutes(deps: StaffAuthDeps) {
  const app = new OpenAPIHono<StaffEnv>();
  const svc: StaffService = deps.staff;
  const auth = staffAuth(deps);
  app.openAPIRegistry.registerComponent('securitySchemes', 'staffSession', {
    type: 'apiKey',
    in: 'cookie',
    name: 'lg_staff',
    description: 'session cookie from POST /v1/staff/login (`__Host-lg_staff` over TLS); changes need the X-CSRF-Token header or a _csrf form field',
  });

  const login = async (c: Context<StaffEnv>, name: string, password: string): Promise<LoginResult> => {
    const r = await svc.login(name, password, deps.clientAddress(c));
    if (r.ok) {
      setSessionCookie(c, r.token, r.session.expiresAt, r.session.createdAt, deps.trustProxy);
      c.set('staff', r.member);
      await recordStaffAction(c, 'staff.login', { client: deps.clientAddress(c) });
    }
    return r;
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/staff/login',
      tags: ['staff sign-in'],
      summary: 'Sign in with name and password: sets the session cookie (HttpOnly, SameSite=Strict; Secure over TLS)',
      description:
        'Five wrong logins within 10 minutes lock the name and the client address for 10 minutes (LOCKOUT_*). The answer carries the CSRF token ' +
        'that changes made with the cookie must send (X-CSRF-Token header or _csrf form field).',
      request: { body: { content: { 'application/json': { schema: LoginBody.openapi('StaffLogin') } }, required: true } },
      responses: {
        200: json(z.object({ member: Identity, expiresAt: Time, csrfToken: z.string() }), 'signed in; Set-Cookie: lg_staff=…'),
        400: json(ErrorSchema, 'bad field'),
        401: json(ErrorSchema, 'wrong name or password, or the member is disabled'),
        429: json(ErrorSchema, 'locked after too many wrong logins (Retry-After)'),
      },
    }),
    async (c) => {
      const { name, password } = c.req.valid('json');
      const r = await login(c, name, password);
      if (r.ok) return c.json({ member: r.member, expiresAt: isoTime(r.session.expiresAt), csrfToken: r.session.csrf }, 200);
      if (r.reason === 'locked') {
        c.header('Retry-After', String(Math.ceil(r.retryAfterMs / 1000)));
        throw new ApiError(429, 'locked_out', 'too many wrong logins; try again later', { retryAfterS: Math.ceil(r.retryAfterMs / 1000) });
      }
      throw new ApiError(401, 'unauthorized', 'wrong name or password');
    },
  );

  // ---- the console's form variant: redirects instead of JSON ----
  app.use('/console/login', sameOriginForms(deps.trustProxy));
  app.openapi(
    createRoute({
      method: 'post',
      path: '/console/login',
      tags: ['staff sign-in'],
      summary: 'Sign in from the console login form: sets the session cookie and redirects (303) to `next`',
      description: 'A form post from another origin is refused (403). On failure it redirects back to /console/login?error=invalid|locked.',
      request: {
        body: {
          content: {
            'application/x-www-form-urlencoded': {
              schema: LoginBody.extend({ next: z.string().max(200).optional() }).openapi('StaffLoginForm'),
            },
          },
          required: true,
        },
      },
      responses: { 303: { description: 'to `next` (default /console), or back to the login page with ?error=' }, 400: json(ErrorSchema, 'bad field'), 403: json(ErrorSchema, 'cross-site form post') },
    }),
    async (c) => {
      const { name, password, next } = c.req.valid('form');
      const r = await login(c, name, password);
      if (r.ok) return c.redirect(safeNext(next), 303);
      const q = new URLSearchParams({ error: r.reason, ...(next ? { next: safeNext(next) } : {}) });
      return c.redirect(`/console/login?${q}`, 303);
    },
  );

  app.get('/console/login', (c) => {
    const error = c.req.query('error');
    const next = safeNext(c.req.query('next'));
    return c.html(html`<!doctype html>
      <html lang="zh-CN">
        <head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" /><title>员工登录 Staff sign-in</title>
          <style>body{font-family:system-ui,"PingFang SC",sans-serif;font-size:20px;max-width:26rem;margin:2rem auto;padding:0 1rem}
          label{display:block;margin:1rem 0 .3rem}input{font-size:20px;width:100%;padding:.5rem;box-sizing:border-box}
          button{font-size:20px;margin-top:1.2rem;padding:.6rem 1.4rem}.err{color:#a11;font-weight:700}</style></head>
        <body>
          <h1>员工登录 Staff sign-in</h1>
          ${error === 'locked' ? html`<p class="err">尝试次数过多，请稍后再试。Too many tries: wait a few minutes.</p>` : ''}
          ${error === 'invalid' ? html`<p class="err">姓名或密码错误。Wrong name or password.</p>` : ''}
          <form method="post" action="/console/login">
            <input type="hidden" name="next" value="${next}" />
            <label for="name">姓名 Name</label><input id="name" name="name" autocomplete="username" required maxlength="40" />
            <label for="password">密码 Password</label><input id="password" name="password" type="password" autocomplete="current-password" required />
            <button type="submit">登录 Sign in</button>
          </form>
        </body>
      </html>`);
  });

  // ---- signed in ----
  for (const path of ['/v1/staff/logout', '/v1/staff/me', '/v1/staff/me/*', '/console/logout']) app.use(path, auth);

  const logout = async (c: Context<StaffEnv>) => {
    const cookie = readSessionCookie(c, deps.trustProxy);
    if (c.var.staffVia === 'session' && cookie) await svc.logout(cookie);
    clearSessionCookie(c, deps.trustProxy);
    await recordStaffAction(c, 'staff.logout', { via: c.var.staffVia });
  };
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/staff/logout',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: 'End this session (and clear the cookie)',
      responses: { 204: { description: 'signed out' }, ...staffErrors(401, 403) },
    }),
    async (c) => {
      await logout(c);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/console/logout',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: "Sign out from a console form (which carries the session's _csrf field); redirects (303) to the login page",
      request: { body: { content: { 'application/x-www-form-urlencoded': { schema: z.object({ _csrf: z.string().max(100) }).openapi('StaffLogoutForm') } }, required: true } },
      responses: { 303: { description: 'to /console/login' }, ...staffErrors(401, 403) },
    }),
    async (c) => {
      await logout(c);
      return c.redirect('/console/login', 303);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/staff/me',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: 'Who is signed in, how, and (with a session) until when and its CSRF token',
      responses: {
        200: json(
          z.object({ member: Identity, via: z.enum(['session', 'token', 'bootstrap']), expiresAt: Time.nullable(), csrfToken: z.string().nullable() }),
          'the member',
        ),
        ...staffErrors(401),
      },
    }),
    (c) => c.json({ member: c.var.staff, via: c.var.staffVia, expiresAt: isoTime(c.var.staffSession?.expiresAt), csrfToken: c.var.staffSession?.csrf ?? null }, 200),
  );

  const member = (c: Context<StaffEnv>) => {
    if (c.var.staffVia === 'bootstrap') throw new ApiError(409, 'conflict', 'the development bootstrap token is no member: add one with npm run staff -- add');
    return c.var.staff.id;
  };

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/staff/me/password',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: 'Change my password (ends all my sessions, this one included)',
      request: { body: { content: { 'application/json': { schema: z.object({ current: z.string().min(1).max(200), password: Password }) } }, required: true } },
      responses: { 204: { description: 'changed; sign in again' }, ...staffErrors(400, 401, 403, 409) },
    }),
    async (c) => {
      const { current, password } = c.req.valid('json');
      await svc.changeOwnPassword(member(c), current, password).catch(mapStaffError);
      clearSessionCookie(c, deps.trustProxy);
      await recordStaffAction(c, 'staff.password.change', { memberId: c.var.staff.id });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/staff/me/tokens',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: 'My API tokens (never the tokens themselves)',
      responses: { 200: json(z.object({ tokens: z.array(TokenView) }), 'mine'), ...staffErrors(401, 409) },
    }),
    async (c) => c.json({ tokens: (await svc.tokens(member(c))).map(withIsoTimes) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/staff/me/tokens',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: 'Issue myself an API token for scripts (`lgs_…`, shown once, stored hashed)',
      request: { body: { content: { 'application/json': { schema: TokenRequest } }, required: true } },
      responses: { 201: json(IssuedToken, 'issued'), ...staffErrors(400, 401, 403, 409) },
    }),
    async (c) => {
      const { token, record } = await svc.issueToken(member(c), c.req.valid('json').label).catch(mapStaffError);
      await recordStaffAction(c, 'staff.token.issue', { memberId: record.memberId, tokenId: record.id, label: record.label });
      return c.json({ token, record: withIsoTimes(record) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/staff/me/tokens/{id}',
      tags: ['staff sign-in'],
      security: staffSecurity,
      summary: 'Revoke one of my API tokens',
      request: { params: IdParam },
      responses: { 200: json(TokenView, 'revoked'), ...staffErrors(401, 403, 404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const t = await svc.token(id);
      if (!t || t.memberId !== member(c)) throw new ApiError(404, 'not_found', 'no such token of yours');
      const revoked = await svc.revokeToken(id).catch(mapStaffError);
      await recordStaffAction(c, 'staff.token.revoke', { memberId: t.memberId, tokenId: id });
      return c.json(withIsoTimes(revoked), 200);
    },
  );
  return app;
}
