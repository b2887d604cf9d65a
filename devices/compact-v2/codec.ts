/**
 * compact-v2 (unit a4c138f0e2d1): pure codec for shared/protocol/compact-v2.md. No I/O.
 * Messages carry no time: the driver stamps them on receipt.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { AlarmKind } from '../../src/domain/model.js';
import { canonicalJson } from '../canonical.js';
import { accept, payloadJson, reject, zodReason, type Decoded } from '../types.js';

export { canonicalJson };

/** The unit's MQTT identity is its MAC: 12 lower-case hex digits. */
const MAC = /^[0-9a-f]{12}$/;

export const compactV2Topics = {
  up: (mac: string) => `cab/${mac}/up`,
  down: (mac: string) => `cab/${mac}/down`,
  parse(topic: string): { mac: string; leaf: 'up' | 'down' } | null {
    if (typeof topic !== 'string') return null;
    const [root, mac, leaf, ...rest] = topic.split('/');
    if (root !== 'cab' || rest.length > 0 || !mac || !MAC.test(mac)) return null;
    return leaf === 'up' || leaf === 'down' ? { mac, leaf } : null;
  },
};

/** Index = the `r` code of an ack (up type 4). */
export const COMPACT_V2_RESULTS = ['done', 'jammed', 'unknown_compartment', 'bad_signature', 'expired', 'busy'] as const;
export type CompactV2Result = (typeof COMPACT_V2_RESULTS)[number];

/** Index = the `c` code of an alarm (up type 9) minus 1. */
const ALARMS: readonly AlarmKind[] = ['tamper', 'door_forced', 'door_left_open', 'power'];

type EventBase = { kind: 'event'; unit: string; msgId: number };
export type CompactV2Message =
  | (EventBase & { event: 'door-opened'; compartment: number })
  | (EventBase & { event: 'door-closed'; compartment: number; occupied: boolean })
  | (EventBase & { event: 'code-entered'; code: string })
  | (EventBase & { event: 'alarm'; alarm: AlarmKind; compartment?: number })
  | { kind: 'reply'; unit: string; msgId: number; commandMsgId: number; ok: boolean; result: CompactV2Result }
  | { kind: 'heartbeat'; unit: string; msgId: number; uptimeSeconds: number; rssi: number }
  | { kind: 'state'; unit: string; msgId: number; openDoors: number[]; occupied: number[]; firmware: string; boxes: number }
  | { kind: 'presence'; unit: string; online: false };

// ---- schemas: one per message type ---------------------------------------------------------------------

const msgId = z.int().min(1).max(65535);
const box = z.int().positive();
const bit = z.union([z.literal(0), z.literal(1)]);
const bitmap = z.string().regex(/^[01]{1,256}$/, 'must be 1..256 characters of 0 and 1');
const envelope = <T extends number, D extends z.ZodType>(t: T, d: D) => z.object({ t: z.literal(t), m: msgId, d });

const SCHEMAS = {
  1: envelope(1, z.object({ up: z.int().nonnegative(), rssi: z.int().min(-200).max(0) })),
  2: envelope(2, z.object({ b: box, s: bit, o: bit })),
  // a person may type a wrong length: pass 1..12 digits on, the driver judges the code
  3: envelope(3, z.object({ k: z.string().regex(/^[0-9]{1,12}$/, 'must be 1..12 digits') })),
  4: envelope(4, z.object({ a: msgId, r: z.int().min(0).max(COMPACT_V2_RESULTS.length - 1) })),
  5: envelope(5, z.object({ doors: bitmap, occ: bitmap, fw: z.string().min(1).max(64) })),
  9: envelope(9, z.object({ c: z.int().min(1).max(ALARMS.length), b: box.optional() })),
};

const typeOnly = z.object({ t: z.int() });

// ---- decode ----------------------------------------------------------------------------------------------

export function decodeCompactV2(topic: string, payload: Buffer | string): Decoded<CompactV2Message> {
  const tp = compactV2Topics.parse(topic);
  if (!tp) return reject(`topic: not a cab/{mac}/up topic: ${String(topic).slice(0, 100)}`);
  if (tp.leaf === 'down') return reject('topic: down messages go from the gateway to the unit, they are not decoded');
  const unit = tp.mac;
  const json = payloadJson(payload);
  if (!json.ok) return json;
  const head = typeOnly.safeParse(json.value); // also refuses arrays and null
  if (!head.success) return reject(zodReason(head.error, 'message'));

  switch (head.data.t) {
    case 0: // the last will {"t":0}: no m, no d
      return accept({ kind: 'presence', unit, online: false });
    case 1: {
      const p = SCHEMAS[1].safeParse(json.value);
      if (!p.success) return reject(zodReason(p.error, 'heartbeat (t 1)'));
      return accept({ kind: 'heartbeat', unit, msgId: p.data.m, uptimeSeconds: p.data.d.up, rssi: p.data.d.rssi });
    }
    case 2: {
      const p = SCHEMAS[2].safeParse(json.value);
      if (!p.success) return reject(zodReason(p.error, 'door (t 2)'));
      const { b, s, o } = p.data.d;
      const base: EventBase = { kind: 'event', unit, msgId: p.data.m };
      // `o` only means something on close
      return accept(s === 1 ? { ...base, event: 'door-opened', compartment: b } : { ...base, event: 'door-closed', compartment: b, occupied: o === 1 });
    }
    case 3: {
      const p = SCHEMAS[3].safeParse(json.value);
      if (!p.success) return reject(zodReason(p.error, 'keypad (t 3)'));
      return accept({ kind: 'event', unit, msgId: p.data.m, event: 'code-entered', code: p.data.d.k });
    }
    case 4: {
      const p = SCHEMAS[4].safeParse(json.value);
      if (!p.success) return reject(zodReason(p.error, 'ack (t 4)'));
      const result = COMPACT_V2_RESULTS[p.data.d.r];
      if (!result) return reject(`ack (t 4): d.r: unknown result code ${p.data.d.r}`);
      return accept({ kind: 'reply', unit, msgId: p.data.m, commandMsgId: p.data.d.a, ok: result === 'done', result });
    }
    case 5: {
      const p = SCHEMAS[5].safeParse(json.value);
      if (!p.success) return reject(zodReason(p.error, 'status (t 5)'));
      const { doors, occ, fw } = p.data.d;
      // one character per box: different lengths mean we cannot tell which box is which
      if (doors.length !== occ.length) return reject(`status (t 5): d.occ: ${occ.length} boxes but d.doors has ${doors.length}`);
      return accept({ kind: 'state', unit, msgId: p.data.m, openDoors: ones(doors), occupied: ones(occ), firmware: fw, boxes: doors.length });
    }
    case 9: {
      const p = SCHEMAS[9].safeParse(json.value);
      if (!p.success) return reject(zodReason(p.error, 'alarm (t 9)'));
      const { c, b } = p.data.d;
      const alarm = ALARMS[c - 1];
      if (!alarm) return reject(`alarm (t 9): d.c: unknown alarm code ${c}`);
      return accept({ kind: 'event', unit, msgId: p.data.m, event: 'alarm', alarm, ...(b !== undefined ? { compartment: b } : {}) });
    }
    default:
      return reject(`message: t: unknown up message type ${head.data.t}`);
  }
}

/** Box numbers (1-based) whose character is '1'. */
function ones(bitmap: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length; i++) if (bitmap[i] === '1') out.push(i + 1);
  return out;
}

// ---- down messages ---------------------------------------------------------------------------------------

export interface CompactV2Down {
  t: 101 | 102 | 103 | 105;
  m: number;
  d: Record<string, unknown>;
  e: number;
}

/** First 16 hex chars of HMAC-SHA256(key, `t|m|e|canonicalD`), UTF-8. */
export function signCompactV2(key: Buffer, msg: CompactV2Down): string {
  // programmer errors: the unit would refuse or mis-pair such a message
  if (!Number.isInteger(msg.m) || msg.m < 1 || msg.m > 65535) throw new RangeError(`compact-v2: m ${msg.m} is not 1..65535`);
  if (!Number.isSafeInteger(msg.e) || msg.e < 0) throw new RangeError('compact-v2: e must be unix seconds');
  return createHmac('sha256', key).update(`${msg.t}|${msg.m}|${msg.e}|${canonicalJson(msg.d)}`, 'utf8').digest('hex').slice(0, 16);
}

/** Payload keys in the order t, m, d, e, h; d in the caller's key order (only the signature sorts). */
export function encodeCompactV2Down(mac: string, key: Buffer, msg: CompactV2Down): { topic: string; payload: string; h: string } {
  const h = signCompactV2(key, msg);
  const payload = JSON.stringify({ t: msg.t, m: msg.m, d: msg.d, e: msg.e, h });
  return { topic: compactV2Topics.down(mac), payload, h };
}

/** The next message id: 1..65535, 65535 wraps to 1 (0 is never used). Anything invalid restarts at 1. */
export function nextMsgId(m: number): number {
  return Number.isInteger(m) && m >= 1 && m < 65535 ? m + 1 : 1;
}
