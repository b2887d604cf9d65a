import { Hono } from 'hono';
import type { Logger } from '../../log.js';
import { requireRole, type StaffEnv } from '../auth.js';
import { ackAlert, alertsPage } from './alerts.js';
import { CONSOLE_CSS, LIVE_JS } from './assets.js';
import { auditPage } from './audit.js';
import { claimAction, claimPage } from './claim.js';
import { claimsPage, newClaimPage, openClaimAction } from './claims.js';
import { consoleAuth } from './auth.js';
import type { ConsoleDeps } from './deps.js';
import { consoleOnError } from './forms.js';
import { liveEvents } from './live.js';
import { liftLockdown, lockDown, lockdownPage } from './lockdown.js';
import { noticesPage, retryNotice } from './notices.js';
import { overviewPage } from './overview.js';
import { reportPage } from './report.js';
import { overduePage, parcelPage, searchPage, staffOpenAction } from './parcels.js';
import { addMember, changeMember, staffPage } from './staff.js';
import { openCompartment, setService, unitPage, unlockKeypad } from './units.js';

export type { ConsoleDeps } from './deps.js';

/**
 * Every console route, in one list: the tests walk it to prove each refuses without a session. `admin`: members
 * below that role get 403. The sign-in page and its form posts live in routes/staff.ts.
 */
export const CONSOLE_ROUTES: { method: 'GET' | 'POST'; path: string; admin?: boolean }[] = [
  { method: 'GET', path: '/console' },
  { method: 'GET', path: '/console/static/console.css' },
  { method: 'GET', path: '/console/static/live.js' },
  { method: 'GET', path: '/console/events' },
  { method: 'GET', path: '/console/parcels' },
  { method: 'GET', path: '/console/parcels/:id' },
  { method: 'POST', path: '/console/parcels/:id/open' },
  { method: 'GET', path: '/console/overdue' },
  { method: 'GET', path: '/console/units/:id' },
  { method: 'POST', path: '/console/units/:id/service' },
  { method: 'POST', path: '/console/units/:id/keypad-unlock' },
  { method: 'POST', path: '/console/units/:id/compartments/:no/open' },
  { method: 'POST', path: '/console/units/:id/compartments/:no/service' },
  { method: 'GET', path: '/console/alerts' },
  { method: 'POST', path: '/console/alerts/:id/ack' },
  { method: 'GET', path: '/console/notices' },
  { method: 'POST', path: '/console/notices/retry' },
  { method: 'GET', path: '/console/audit' },
  { method: 'GET', path: '/console/lockdown' },
  { method: 'POST', path: '/console/lockdown' },
  { method: 'POST', path: '/console/lockdown/lift', admin: true },
  { method: 'GET', path: '/console/claims' },
  { method: 'GET', path: '/console/claims/new' },
  { method: 'POST', path: '/console/claims' },
  { method: 'GET', path: '/console/claims/:id' },
  { method: 'POST', path: '/console/claims/:id/acknowledge' },
  { method: 'POST', path: '/console/claims/:id/investigate' },
  { method: 'POST', path: '/console/claims/:id/ask' },
  { method: 'POST', path: '/console/claims/:id/resolve' },
  { method: 'POST', path: '/console/claims/:id/close' },
  { method: 'POST', path: '/console/claims/:id/note' },
  { method: 'GET', path: '/console/reports', admin: true },
  { method: 'GET', path: '/console/staff', admin: true },
  { method: 'POST', path: '/console/staff', admin: true },
  { method: 'POST', path: '/console/staff/:id/:what', admin: true },
];

const asset = (body: string, type: string) => (c: { body: (b: string, s: 200, h: Record<string, string>) => Response }) =>
  c.body(body, 200, { 'content-type': type, 'cache-control': 'private, max-age=300', 'x-content-type-options': 'nosniff' });

/** The staff console: server-rendered pages under /console, behind the staff login (see auth.ts). */
export function consoleRoutes(d: ConsoleDeps, logger: Logger) {
  const app = new Hono<StaffEnv>();
  app.onError(consoleOnError(logger));
  app.use('/console', consoleAuth(d.auth));
  app.use('/console/*', consoleAuth(d.auth));
  app.use('/console/staff', requireRole('admin'));
  app.use('/console/staff/*', requireRole('admin'));
  app.use('/console/lockdown/lift', requireRole('admin'));
  // the monthly report is the admins', as GET /v1/admin/reports/monthly
  app.use('/console/reports', requireRole('admin'));

  app.get('/console/static/console.css', asset(CONSOLE_CSS, 'text/css; charset=utf-8'));
  app.get('/console/static/live.js', asset(LIVE_JS, 'text/javascript; charset=utf-8'));
  app.get('/console/events', liveEvents(d));

  app.get('/console', (c) => overviewPage(c, d));
  app.get('/console/parcels', (c) => searchPage(c, d));
  app.get('/console/parcels/:id', (c) => parcelPage(c, d));
  app.post('/console/parcels/:id/open', (c) => staffOpenAction(c, d));
  app.get('/console/overdue', (c) => overduePage(c, d));
  app.get('/console/units/:id', (c) => unitPage(c, d));
  app.post('/console/units/:id/service', (c) => setService(c, d));
  app.post('/console/units/:id/keypad-unlock', (c) => unlockKeypad(c, d));
  app.post('/console/units/:id/compartments/:no{[0-9]{1,3}}/open', (c) => openCompartment(c, d));
  app.post('/console/units/:id/compartments/:no{[0-9]{1,3}}/service', (c) => setService(c, d));
  app.get('/console/alerts', (c) => alertsPage(c, d));
  app.post('/console/alerts/:id/ack', (c) => ackAlert(c, d));
  app.get('/console/notices', (c) => noticesPage(c, d));
  app.post('/console/notices/retry', (c) => retryNotice(c, d));
  app.get('/console/audit', (c) => auditPage(c, d));
  app.get('/console/lockdown', (c) => lockdownPage(c, d));
  app.post('/console/lockdown', (c) => lockDown(c, d));
  app.post('/console/lockdown/lift', (c) => liftLockdown(c, d));
  app.get('/console/claims', (c) => claimsPage(c, d));
  app.get('/console/claims/new', (c) => newClaimPage(c, d));
  app.post('/console/claims', (c) => openClaimAction(c, d));
  app.get('/console/claims/:id', (c) => claimPage(c, d));
  app.post('/console/claims/:id/:action{acknowledge|investigate|ask|resolve|close|note}', (c) => claimAction(c, d));
  app.get('/console/reports', (c) => reportPage(c, d));
  app.get('/console/staff', (c) => staffPage(c, d));
  app.post('/console/staff', (c) => addMember(c, d));
  app.post('/console/staff/:id/:what', (c) => changeMember(c, d));
  return app;
}
