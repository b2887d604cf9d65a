import type { ZodError } from 'zod';

/** What every codec's decode returns. Decoders never throw: a reject names the field and says why. */
export type Decoded<T> = { ok: true; message: T } | { ok: false; reason: string };

export type Rejected = { ok: false; reason: string };

export const accept = <T>(message: T): Decoded<T> => ({ ok: true, message });
export const reject = (reason: string): Rejected => ({ ok: false, reason });

/** Far above any real message (a 36-compartment snapshot is ~3 KB): refuse before JSON.parse does the work. */
export const MAX_JSON_PAYLOAD = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** MQTT payload as text. Invalid UTF-8 is refused rather than silently replaced with U+FFFD. */
export function payloadText(payload: Buffer | string): { ok: true; text: string } | Rejected {
  if (typeof payload === 'string') {
    return payload.length > MAX_JSON_PAYLOAD ? reject(`payload: longer than ${MAX_JSON_PAYLOAD} characters`) : { ok: true, text: payload };
  }
  if (!(payload instanceof Uint8Array)) return reject('payload: neither a Buffer nor a string');
  if (payload.length > MAX_JSON_PAYLOAD) return reject(`payload: larger than ${MAX_JSON_PAYLOAD} bytes`);
  try {
    return { ok: true, text: utf8.decode(payload) };
  } catch {
    return reject('payload: not valid UTF-8');
  }
}

/** MQTT payload as a JSON value. */
export function payloadJson(payload: Buffer | string): { ok: true; value: unknown } | Rejected {
  const text = payloadText(payload);
  if (!text.ok) return text;
  try {
    return { ok: true, value: JSON.parse(text.text) as unknown };
  } catch {
    return reject('payload: not valid JSON');
  }
}

/** First zod issue as "field.path: message", so a log line says which field was wrong. */
export function zodReason(error: ZodError, what: string): string {
  const issue = error.issues[0];
  if (!issue) return `${what}: invalid`;
  let path = '';
  for (const p of issue.path) path += typeof p === 'number' ? `[${p}]` : `${path ? '.' : ''}${String(p)}`;
  return `${what}: ${path || '(payload)'}: ${issue.message}`;
}
