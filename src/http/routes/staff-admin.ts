import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { STAFF_ROLES } from '../../staff/types.js';
import { requireRole, staffAuth, type StaffAuthDeps, type StaffEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { json } from '../schemas.js';
import { recordStaffAction } from '../staff-actions.js';
import { withIsoTimes } from '../time.js';
import { IdParam, IssuedToken, MemberView, Password, TokenRequest, TokenView, mapStaffError, staffErrors, staffSecurity } from './staff-schemas.js';

/** Admins manage staff: members, roles, passwords, API tokens (the same as `npm run staff`). */
export function staffAdminRoutes(deps: StaffAuthDeps) {
  const app = new OpenAPIHono<StaffEnv>();
  const svc = deps.staff;
  for (const path of ['/v1/admin/staff', '/v1/admin/staff/*', '/v1/admin/staff-tokens', '/v1/admin/staff-tokens/*']) {
    app.use(path, staffAuth(deps), requireRole('admin'));
  }
  const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => createRoute({ ...r, tags: ['staff management'], security: staffSecurity });
  const member = async (id: string) => {
    const m = await svc.get(id);
    if (!m) throw new ApiError(404, 'not_found', `no staff member ${id}`);
    return m;
  };

  app.openapi(
    route({ method: 'get', path: '/v1/admin/staff', summary: 'Staff members', responses: { 200: json(z.object({ members: z.array(MemberView) }), 'all'), ...staffErrors(401, 403) } }),
    async (c) => c.json({ members: (await svc.list()).map(withIsoTimes) }, 200),
  );

  app.openapi(
    route({
      method: 'post',
      path: '/v1/admin/staff',
      summary: 'Add a member with a role and a first password',
      request: {
        body: {
          content: {
            'application/json': {
              schema: z.object({ name: z.string().trim().min(1).max(40), role: z.enum(STAFF_ROLES), password: Password }).openapi('StaffMemberRequest'),
            },
          },
          required: true,
        },
      },
      responses: { 201: json(MemberView, 'added'), ...staffErrors(400, 401, 403, 409) },
    }),
    async (c) => {
      const m = await svc.add(c.req.valid('json')).catch(mapStaffError);
      await recordStaffAction(c, 'staff.add', { memberId: m.id, name: m.name, role: m.role });
      return c.json(withIsoTimes(m), 201);
    },
  );

  app.openapi(
    route({ method: 'get', path: '/v1/admin/staff/{id}', summary: 'A member', request: { params: IdParam }, responses: { 200: json(MemberView, 'the member'), ...staffErrors(401, 403, 404) } }),
    async (c) => c.json(withIsoTimes(await member(c.req.valid('param').id)), 200),
  );

  for (const [verb, active] of [['disable', false], ['enable', true]] as const) {
    app.openapi(
      route({
        method: 'post',
        path: `/v1/admin/staff/{id}/${verb}`,
        summary: active ? 'Enable a member again (their API tokens work again)' : 'Disable a member: sessions end at once, API tokens stop working',
        request: { params: IdParam },
        responses: { 200: json(MemberView, 'the member'), ...staffErrors(401, 403, 404, 409) },
      }),
      async (c) => {
        const m = await svc.setActive(c.req.valid('param').id, active).catch(mapStaffError);
        await recordStaffAction(c, `staff.${verb}`, { memberId: m.id, name: m.name });
        return c.json(withIsoTimes(m), 200);
      },
    );
  }

  app.openapi(
    route({
      method: 'put',
      path: '/v1/admin/staff/{id}/role',
      summary: "Change a member's role (the last active admin stays one)",
      request: { params: IdParam, body: { content: { 'application/json': { schema: z.object({ role: z.enum(STAFF_ROLES) }) } }, required: true } },
      responses: { 200: json(MemberView, 'the member'), ...staffErrors(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const m = await svc.setRole(c.req.valid('param').id, c.req.valid('json').role).catch(mapStaffError);
      await recordStaffAction(c, 'staff.role', { memberId: m.id, name: m.name, role: m.role });
      return c.json(withIsoTimes(m), 200);
    },
  );

  app.openapi(
    route({
      method: 'put',
      path: '/v1/admin/staff/{id}/password',
      summary: "Reset a member's password (ends their sessions)",
      request: { params: IdParam, body: { content: { 'application/json': { schema: z.object({ password: Password }) } }, required: true } },
      responses: { 200: json(MemberView, 'the member'), ...staffErrors(400, 401, 403, 404) },
    }),
    async (c) => {
      const m = await svc.resetPassword(c.req.valid('param').id, c.req.valid('json').password).catch(mapStaffError);
      await recordStaffAction(c, 'staff.password.reset', { memberId: m.id, name: m.name });
      return c.json(withIsoTimes(m), 200);
    },
  );

  app.openapi(
    route({
      method: 'post',
      path: '/v1/admin/staff/{id}/tokens',
      summary: 'Issue a member an API token for scripts (`lgs_…`, shown once, stored hashed)',
      request: { params: IdParam, body: { content: { 'application/json': { schema: TokenRequest } }, required: true } },
      responses: { 201: json(IssuedToken, 'issued'), ...staffErrors(400, 401, 403, 404) },
    }),
    async (c) => {
      const { token, record } = await svc.issueToken(c.req.valid('param').id, c.req.valid('json').label).catch(mapStaffError);
      await recordStaffAction(c, 'staff.token.issue', { memberId: record.memberId, tokenId: record.id, label: record.label });
      return c.json({ token, record: withIsoTimes(record) }, 201);
    },
  );

  app.openapi(
    route({
      method: 'get',
      path: '/v1/admin/staff-tokens',
      summary: "API tokens (all, or one member's), revoked ones included; never the tokens themselves",
      request: { query: z.object({ member: z.string().min(1).max(64).optional() }) },
      responses: { 200: json(z.object({ tokens: z.array(TokenView) }), 'tokens'), ...staffErrors(401, 403) },
    }),
    async (c) => c.json({ tokens: (await svc.tokens(c.req.valid('query').member)).map(withIsoTimes) }, 200),
  );

  app.openapi(
    route({
      method: 'delete',
      path: '/v1/admin/staff-tokens/{id}',
      summary: 'Revoke an API token (it stops working at once)',
      request: { params: IdParam },
      responses: { 200: json(TokenView, 'revoked'), ...staffErrors(401, 403, 404) },
    }),
    async (c) => {
      const t = await svc.revokeToken(c.req.valid('param').id).catch(mapStaffError);
      await recordStaffAction(c, 'staff.token.revoke', { memberId: t.memberId, tokenId: t.id });
      return c.json(withIsoTimes(t), 200);
    },
  );
  return app;
}
