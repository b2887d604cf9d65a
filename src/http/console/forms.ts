import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ZodError } from 'zod';
import { ClaimError } from '../../claims/errors.js';
import { ClaimRuleError } from '../../domain/claims.js';
import { CommandError } from '../../bus/commands.js';
import { OpenRefused } from '../../bus/open-guard.js';
import type { Logger } from '../../log.js';
import { ParcelError, type ParcelErrorCode } from '../../parcels/errors.js';
import { StaffError } from '../../staff/errors.js';
import { ApiError, PARCEL_STATUS } from '../errors.js';
import { mapClaimError } from '../routes/claims-schemas.js';

/** A form field as text ('' when absent or a file). */
export const formText = (v: unknown): string => (typeof v === 'string' ? v : '');

const PARCEL_TEXT: Partial<Record<ParcelErrorCode, string>> = {
  not_found: '没有找到。Not found.',
  not_waiting: '包裹不在柜中等待，不能开门。The parcel is not waiting in the locker.',
  busy: '这个格口正在开门，请稍候。This compartment is being opened already.',
  unit_offline: '快递柜离线，无法开门。The unit is offline.',
  open_failed: '开门失败。The door did not open.',
  conflict: '情况刚刚变了，请重试。Something changed meanwhile: try again.',
  locked_down: '快递柜已紧急锁定，只有管理员可以开门。The locker is locked down: only an admin may open.',
  rate_limited: '一分钟内开门太多，请稍后再试。Too many doors opened in the last minute: try again shortly.',
};

const CLAIM_TEXT: Partial<Record<string, string>> = {
  not_found: '没有找到。Not found:',
  duplicate: '这个包裹已有处理中的申报。',
  wrong_state: '申报现在的状态不能这样做。',
  invalid: '填写有误。',
  busy: '情况刚刚变了，请重试。',
};

/** A refusal as a status and words for a console error page (domain errors carry no HTTP: mapped here). */
export function describeError(err: unknown): { status: number; text: string } | null {
  if (err instanceof ApiError) return { status: err.status, text: err.message };
  if (err instanceof ClaimError || err instanceof ClaimRuleError) {
    // the API's own mapping (routes/claims-schemas.ts): the same status for the same refusal
    try {
      mapClaimError(err);
    } catch (mapped) {
      if (mapped instanceof ApiError) return { status: mapped.status, text: CLAIM_TEXT[err.code] ? `${CLAIM_TEXT[err.code]} ${err.message}` : err.message };
    }
  }
  if (err instanceof ParcelError) return { status: PARCEL_STATUS[err.code], text: PARCEL_TEXT[err.code] ?? err.message };
  if (err instanceof StaffError) {
    const status = err.code === 'not_found' ? 404 : err.code === 'invalid' ? 400 : err.code === 'wrong_password' ? 403 : 409;
    return { status, text: err.message };
  }
  if (err instanceof OpenRefused) return { status: err.why === 'locked_down' ? 503 : 429, text: PARCEL_TEXT[err.why]! };
  if (err instanceof CommandError) return { status: err.code === 'unknown_unit' ? 404 : 409, text: err.message };
  if (err instanceof HTTPException) return { status: err.status, text: err.message || 'request refused' };
  if (err instanceof ZodError) return { status: 400, text: err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return null;
}

/** The console's error page: plain, same look, no stack. Unexpected errors are logged with the request id. */
export function consoleOnError(logger: Logger) {
  return (err: Error, c: Context) => {
    const known = describeError(err);
    if (!known) logger.error('console: request failed', { err, path: c.req.path, requestId: c.get('requestId') });
    const { status, text } = known ?? { status: 500, text: '出错了，请稍后再试。Something went wrong; try again later.' };
    c.header('Cache-Control', 'no-store');
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'");
    const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
    return c.html(
      `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>出错了 Error</title><link rel="stylesheet" href="/console/static/console.css"></head><body><main id="main">` +
        `<h1>无法完成 Could not be done</h1><p class="error" role="alert">${esc(text)}</p>` +
        `<p><a href="/console">返回总览 Back to the overview</a></p><p class="muted">${esc(String(c.get('requestId') ?? ''))}</p></main></body></html>`,
      status as 400,
    );
  };
}
