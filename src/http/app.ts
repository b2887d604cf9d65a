import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { UnitStore } from '../store/units.js';
import { describeZod, errorBody, onError } from './errors.js';
import { healthRoutes, type Health } from './routes/health.js';
import { unitRoutes } from './routes/units.js';
import { pageRoutes } from './routes/pages.js';

export interface AppDeps {
  store: UnitStore;
  health: Health;
  counters: Counters;
  logger: Logger;
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
  app.use(secureHeaders());
  app.use(bodyLimit({ maxSize: 64 * 1024 }));
  app.onError(onError(deps.logger));
  app.notFound((c) => c.json(errorBody(c, 'not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.route('/', healthRoutes(deps));
  app.route('/', unitRoutes(deps));
  app.route('/', pageRoutes(deps));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'locker-gateway',
      version: '0.1.0',
      description: 'Parcel lockers of the Lishe community: units, compartments, parcels and notifications.',
    },
  });
  return app;
}
