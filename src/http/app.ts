import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Hono } from 'hono';
import type { CommandBus } from '../bus/commands.js';
import type { Logger } from '../log.js';
import type { Couriers, Residents } from '../parcels/accounts.js';
import type { ParcelService } from '../parcels/service.js';
import type { StaffService } from '../staff/service.js';
import type { UnitStore } from '../store/units.js';
import { describeZod, errorBody, onError } from './errors.js';

/** The largest request body taken (a 413 beyond). */
const BODY_MAX_BYTES = 64 * 1024;
import type { StaffAuthDeps } from './auth.js';
import type { ApiDeps, ClientAddress, RuntimeDeps } from './deps.js';
import { adminRoutes, type FailureLister } from './routes/admin.js';
import { evidenceRoutes } from './routes/evidence.js';
import type { Evidence } from '../evidence/index.js';
import { staffAuth } from './auth.js';
import { mountDocs } from './routes/docs.js';
import { healthRoutes, type Health } from './routes/health.js';
import { pageRoutes } from './routes/pages.js';
import { parcelRoutes } from './routes/parcels.js';
import { residentRoutes } from './routes/resident.js';
import { staffAdminRoutes } from './routes/staff-admin.js';
import { staffRoutes } from './routes/staff.js';
import { logStaffActions, staffActions, type StaffActionRecorder } from './staff-actions.js';
import { unitRoutes } from './routes/units.js';
import type { Claims } from '../claims/index.js';
import { residentClaimRoutes } from './routes/claims.js';
import { adminClaimRoutes } from './routes/claims-admin.js';
import { reportRoutes } from './routes/reports.js';
import { consoleRoutes, type ConsoleDeps } from './console/index.js';

/** The site gateway's own staff-side services (admin, evidence): never at the edge. */
export interface SiteParcelDeps {
  service: ParcelService;
  couriers: Couriers;
  residents: Residents;
  commands: CommandBus;
  notifications: FailureLister;
  evidence: Evidence;
}

/** Named staff: members, sessions, API tokens; STAFF_TOKEN as the development bootstrap. */
export interface StaffDeps {
  members: StaffService;
  /** STAFF_TOKEN; refused when `production` */
  bootstrapToken: string | null;
  production: boolean;
  trustProxy: boolean;
  clientAddress: ClientAddress;
}

/** What only the site gateway serves: units, staff, admin, evidence, pages, metrics. */
export interface SiteDeps {
  store: UnitStore;
  staff: StaffDeps;
  parcels?: SiteParcelDeps;
  /** lost-parcel claims and the monthly report: kept on site, next to the evidence log (residents sign in through `api`) */
  claims?: Claims;
  /** the staff console's services (the pages under /console); without them there is no console */
  console?: ConsoleDeps;
}

export interface AppDeps {
  logger: Logger;
  health: Health;
  /** clock, ids and the client address of this runtime */
  runtime: RuntimeDeps;
  /** the courier and resident API (both runtimes) */
  api?: ApiDeps;
  /** the site gateway's own routes; absent at the edge */
  site?: SiteDeps;
  /** at the edge: the site-only paths answer 501 `site_only` naming the site gateway (see README "Edge gateway") */
  siteOnly?: { gateway: string };
  /** where staff actions go (default: a log line; the evidence log replaces it) */
  staffActions?: StaffActionRecorder;
}

/** Paths only the site gateway serves, and why (the edge answers them 501 naming the site gateway). */
export const SITE_ONLY_PATHS: readonly { path: string; why: string }[] = [
  { path: '/v1/units', why: 'unit state and commands need the MQTT session and the unit signing keys' },
  { path: '/v1/units/*', why: 'unit state, commands and the live event stream need the MQTT session and the unit signing keys' },
  { path: '/v1/admin/*', why: 'staff administration, evidence and BullMQ dead letters are site services' },
  { path: '/v1/staff/*', why: 'staff sign-in and sessions are kept next to the evidence log on site' },
  { path: '/v1/claims', why: 'lost-parcel claims are kept next to the evidence log on site' },
  { path: '/v1/claims/*', why: 'lost-parcel claims are kept next to the evidence log on site' },
  { path: '/console/*', why: 'the staff console is served by the site gateway' },
  { path: '/admin/queues/*', why: 'Bull Board needs the BullMQ workers' },
  { path: '/metrics', why: 'metrics describe the site process' },
  { path: '/', why: 'the status page reads live unit state on site' },
];

/** What staffAuth needs, from the app's dependencies (runtime/gateway.ts builds the same for Bull Board). */
export function staffAuthDeps(staff: StaffDeps): StaffAuthDeps {
  return {
    staff: staff.members,
    bootstrapToken: staff.bootstrapToken,
    production: staff.production,
    trustProxy: staff.trustProxy,
    clientAddress: staff.clientAddress,
  };
}

export type AppEnv = { Variables: { requestId: string } };

/** Builds the HTTP app from the services passed in; entries (runtime/node.ts, runtime/worker.ts) wire them. */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({
    // Every validation failure answers 400 in the one error envelope, naming the field.
    defaultHook: (result, c) => {
      if (!result.success) {
        const { message, fields } = describeZod(result.error, result.target);
        return c.json(errorBody(c, 'validation_failed', message, { fields, in: result.target }), 400);
      }
    },
  });
  app.use(requestId());
  // One access line per request, with its request id (health checks and scrapes only at debug).
  const access = deps.logger.child({ component: 'http' });
  app.use(async (c, next) => {
    const t0 = performance.now();
    await next();
    c.header('X-Request-Id', c.get('requestId'));
    const status = c.res.status;
    const line = {
      requestId: c.get('requestId'),
      method: c.req.method,
      path: c.req.path.replace(/1[3-9]\d{9}/g, (p) => `${p.slice(0, 3)}****${p.slice(-4)}`), // a phone in the path
      status,
      ms: Math.round((performance.now() - t0) * 10) / 10,
    };
    if (/^\/(healthz|readyz|metrics)$/.test(c.req.path)) access.debug('request', line);
    else if (status >= 500) access.warn('request', line);
    else access.info('request', line);
  });
  app.use(secureHeaders());
  app.use(
    bodyLimit({
      maxSize: BODY_MAX_BYTES,
      // The rest of the body is never read: the connection cannot carry another request, so say it closes (without
      // this the 413 said keep-alive, the server then dropped the socket, and the client's next request on it died).
      onError: (c) => {
        c.header('Connection', 'close');
        return c.json(errorBody(c, 'payload_too_large', `request body larger than ${BODY_MAX_BYTES / 1024} KiB`), 413);
      },
    }),
  );
  app.use(staffActions(deps.staffActions ?? logStaffActions(deps.logger)));
  app.onError(onError(deps.logger));
  app.notFound((c) => c.json(errorBody(c, 'not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.route('/', healthRoutes({ health: deps.health }));
  if (deps.siteOnly) {
    const gateway = deps.siteOnly.gateway;
    for (const { path, why } of SITE_ONLY_PATHS) {
      app.all(path, (c) =>
        c.json(errorBody(c, 'site_only', `${c.req.method} ${c.req.path} is served by the site gateway only (${gateway}): ${why}`, { gateway }), 501),
      );
    }
  }
  if (deps.api) {
    const a = deps.api;
    app.route('/', parcelRoutes({ parcels: a.parcels, couriers: a.couriers, idempotency: a.idempotency, runtime: deps.runtime }));
    app.route('/', residentRoutes({ signIn: a.residentSignIn, parcels: a.parcels, residents: a.residents, runtime: deps.runtime }));
  }
  if (deps.site) {
    const site = deps.site;
    app.route('/', unitRoutes({ store: site.store, opens: site.parcels?.commands.opens ?? null }));
    app.route('/', pageRoutes(site));
    const auth = staffAuthDeps(site.staff);
    app.route('/', staffRoutes(auth));
    app.route('/', staffAdminRoutes(auth));
    if (site.console) app.route('/', consoleRoutes({ claims: site.claims, ...site.console }, deps.logger));
    if (site.parcels) {
      const p = site.parcels;
      app.route(
        '/',
        adminRoutes({
          auth,
          couriers: p.couriers,
          residents: p.residents,
          parcels: p.service,
          commands: p.commands,
          store: site.store,
          notifications: p.notifications,
        }),
      );
      app.route('/', evidenceRoutes({ store: site.store, evidence: p.evidence, parcels: p.service, staff: staffAuth(auth) }));
    }
    if (site.claims && deps.api) {
      const now = () => deps.runtime.clock.now();
      app.route('/', residentClaimRoutes({ claims: site.claims.service, signIn: deps.api.residentSignIn, now }));
      app.route('/', adminClaimRoutes({ claims: site.claims, auth, now }));
      app.route('/', reportRoutes({ reports: site.claims.reports, auth }));
    }
  }

  const docConfig = {
    openapi: '3.1.0',
    info: {
      title: 'locker-gateway',
      version: '0.1.0',
      description: 'Parcel lockers of the Lishe community: units, compartments, parcels and notifications.',
    },
  };
  app.doc31('/openapi.json', docConfig);
  mountDocs(app as unknown as Hono, () => app.getOpenAPI31Document(docConfig) as never);
  return app;
}
