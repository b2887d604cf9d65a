import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import { staffActor, type StaffActor, type StaffIdentity } from '../staff/types.js';

/**
 * Every staff action goes through recordStaffAction(c, action, details), with the member who did it as the actor.
 * For now the recorder writes one log line; the evidence log (issue 6) replaces it with an appending recorder,
 * passed to createApp as `staffActions`, without touching the routes.
 */
export interface StaffActionEntry {
  actor: StaffActor;
  /** dotted verb, e.g. `courier.issue`, `unit.command` */
  action: string;
  /** what was acted on and how; never a secret (no passwords, tokens or codes) */
  details: Record<string, unknown>;
  requestId: string;
  at: number;
}
export type StaffActionRecorder = (entry: StaffActionEntry) => Promise<void>;

export type StaffActionVars = { staffActions: StaffActionRecorder; staff: StaffIdentity; requestId: string };

export function logStaffActions(logger: Logger): StaffActionRecorder {
  return async (e) => logger.info('staff action', { actor: e.actor, action: e.action, details: e.details, requestId: e.requestId });
}

/** Puts the recorder where recordStaffAction finds it (once, for the whole app). */
export function staffActions(recorder: StaffActionRecorder): MiddlewareHandler<{ Variables: Pick<StaffActionVars, 'staffActions'> }> {
  return async (c, next) => {
    c.set('staffActions', recorder);
    await next();
  };
}

/** Record what the signed-in member (c.var.staff, set by staffAuth) did. */
export async function recordStaffAction(c: Context, action: string, details: Record<string, unknown> = {}, now = Date.now()): Promise<void> {
  const vars = c.var as Partial<StaffActionVars>;
  if (!vars.staff) throw new Error(`recordStaffAction(${action}) outside staffAuth`);
  if (!vars.staffActions) throw new Error('recordStaffAction: no recorder (createApp installs one)');
  await vars.staffActions({ actor: staffActor(vars.staff), action, details, requestId: vars.requestId ?? '-', at: now });
}
