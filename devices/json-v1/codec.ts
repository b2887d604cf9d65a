/**
 * json-v1 (unit LSN-0001): pure codec for shared/protocol/json-v1.md. No I/O.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { SIZES, type AlarmKind, type FaultKind, type Size } from '../../src/domain/model.js';
import { canonicalJson } from '../canonical.js';
import { accept, payloadJson, payloadText, reject, zodReason, type Decoded } from '../types.js';

export { canonicalJson };

const LEAVES = ['presence', 'state', 'events', 'replies', 'commands'] as const;
type Leaf = (typeof LEAVES)[number];

/** A usable MQTT topic level: no separator, no wildcard. */
const isLevel = (s: string | undefined): s is string => !!s && !/[/+#\0]/.test(s);

export const jsonV1Topics = {
  presence: (sn: string) => `lockers/${sn}/presence`,
  state: (sn: string) => `lockers/${sn}/state`,
  events: (sn: string) => `lockers/${sn}/events`,
  replies: (sn: string) => `lockers/${sn}/replies`,
  commands: (sn: string) => `lockers/${sn}/commands`,
  /** parse any lockers/{sn}/{leaf} topic */
  parse(topic: string): { sn: string; leaf: Leaf } | null {
    if (typeof topic !== 'string') return null;
    const [root, sn, leaf, ...rest] = topic.split('/');
    if (root !== 'lockers' || rest.length > 0 || !isLevel(sn)) return null;
    const known = LEAVES.find((l) => l === leaf);
    return known ? { sn, leaf: known } : null;
  },
};

export const JSON_V1_RESULTS = ['done', 'expired', 'bad_signature', 'unknown_compartment', 'jammed', 'busy', 'unsupported'] as const;
export type JsonV1Result = (typeof JSON_V1_RESULTS)[number];

type EventBase = { kind: 'event'; unit: string; id: string; seq: number; at: string };
export type JsonV1Message =
  | (EventBase & { event: 'door-opened'; compartment: number })
  | (EventBase & { event: 'door-closed'; compartment: number; occupied: boolean })
  | (EventBase & { event: 'code-entered'; code: string })
  | (EventBase & { event: 'fault'; compartment: number; fault: FaultKind })
  | (EventBase & { event: 'alarm'; alarm: AlarmKind; compartment?: number })
  | (EventBase & { event: 'boot'; firmware: string; reason: string })
  | { kind: 'reply'; unit: string; commandId: string; ok: boolean; result: JsonV1Result; at: string }
  | { kind: 'presence'; unit: string; online: boolean }
  | {
      kind: 'state';
      unit: string;
      seq: number;
      firmware: string;
      at: string;
      compartments: { compartment: number; size: Size; doorOpen: boolean; occupied: boolean; fault: FaultKind | null }[];
    };

// ---- schemas: one per message ----------------------------------------------------------------------------

const no = z.int().positive(); // z.int() is a safe integer: 1e300 and 2**60 are refused
const seq = z.int().nonnegative();
const ts = z.iso.datetime({ offset: true }); // RFC 3339: seconds required, Z or ±hh:mm, real calendar dates
const fault = z.enum(['jammed', 'sensor']);
const alarm = z.enum(['tamper', 'door_forced', 'door_left_open', 'power']);
const head = { id: z.string().max(128), seq, ts };

const EVENT_SCHEMAS_LIST = [
  z.object({ ...head, type: z.literal('door.opened'), no }),
  z.object({ ...head, type: z.literal('door.closed'), no, occupied: z.boolean() }),
  z.object({ ...head, type: z.literal('code.entered'), code: z.string().regex(/^[0-9]{6}$/, 'must be exactly 6 digits') }),
  z.object({ ...head, type: z.literal('fault'), no, kind: fault }),
  z.object({ ...head, type: z.literal('alarm'), kind: alarm, no: no.optional() }),
  z.object({ ...head, type: z.literal('boot'), fw: z.string().min(1).max(64), reason: z.string().max(256) }),
] as const;
type EventSchema = (typeof EVENT_SCHEMAS_LIST)[number];
type EventPayload = z.infer<EventSchema>;
// a Map, not an object, so that a type of "__proto__" or "constructor" finds nothing
const EVENT_SCHEMAS = new Map<string, EventSchema>(EVENT_SCHEMAS_LIST.map((s) => [s.shape.type.value, s]));

const eventType = z.object({ type: z.string() });

const replySchema = z.object({
  cid: z.string().min(1).max(128),
  ok: z.boolean(),
  result: z.enum(JSON_V1_RESULTS),
  ts,
});

const stateSchema = z.object({
  sn: z.string(),
  fw: z.string().min(1).max(64),
  seq,
  ts,
  compartments: z
    .array(
      z.object({
        no,
        size: z.enum(SIZES),
        door: z.enum(['open', 'closed']),
        occupied: z.boolean(),
        fault: fault.nullable(),
      }),
    )
    .max(256),
});

// ---- decode ----------------------------------------------------------------------------------------------

export function decodeJsonV1(topic: string, payload: Buffer | string): Decoded<JsonV1Message> {
  const t = jsonV1Topics.parse(topic);
  if (!t) return reject(`topic: not a lockers/{sn}/{presence|state|events|replies} topic: ${String(topic).slice(0, 100)}`);
  switch (t.leaf) {
    case 'presence':
      return decodePresence(t.sn, payload);
    case 'events':
      return decodeEvent(t.sn, payload);
    case 'replies':
      return decodeReply(t.sn, payload);
    case 'state':
      return decodeState(t.sn, payload);
    case 'commands':
      // our own publications echoed back (or someone else's): never something the unit said
      return reject('topic: commands go from the gateway to the unit, they are not decoded');
  }
}

function decodePresence(unit: string, payload: Buffer | string): Decoded<JsonV1Message> {
  const text = payloadText(payload);
  if (!text.ok) return text;
  if (text.text === 'online') return accept({ kind: 'presence', unit, online: true });
  if (text.text === 'offline') return accept({ kind: 'presence', unit, online: false });
  return reject('presence: payload must be "online" or "offline"');
}

function decodeEvent(unit: string, payload: Buffer | string): Decoded<JsonV1Message> {
  const json = payloadJson(payload);
  if (!json.ok) return json;
  const typed = eventType.safeParse(json.value);
  if (!typed.success) return reject(zodReason(typed.error, 'event'));
  const schema = EVENT_SCHEMAS.get(typed.data.type);
  if (!schema) return reject(`event: type: unknown event type ${JSON.stringify(typed.data.type.slice(0, 40))}`);
  const parsed = schema.safeParse(json.value);
  if (!parsed.success) return reject(zodReason(parsed.error, `event ${typed.data.type}`));
  const p: EventPayload = parsed.data;
  // the id is the event's identity for de-duplication: it must agree with the topic's unit and the seq
  if (p.id !== `${unit}-${p.seq}`) return reject(`event: id: ${JSON.stringify(p.id.slice(0, 40))} is not "${unit}-${p.seq}"`);
  const base: EventBase = { kind: 'event', unit, id: p.id, seq: p.seq, at: p.ts };
  switch (p.type) {
    case 'door.opened':
      return accept({ ...base, event: 'door-opened', compartment: p.no });
    case 'door.closed':
      return accept({ ...base, event: 'door-closed', compartment: p.no, occupied: p.occupied });
    case 'code.entered':
      return accept({ ...base, event: 'code-entered', code: p.code });
    case 'fault':
      return accept({ ...base, event: 'fault', compartment: p.no, fault: p.kind });
    case 'alarm':
      return accept({ ...base, event: 'alarm', alarm: p.kind, ...(p.no !== undefined ? { compartment: p.no } : {}) });
    case 'boot':
      return accept({ ...base, event: 'boot', firmware: p.fw, reason: p.reason });
  }
}

function decodeReply(unit: string, payload: Buffer | string): Decoded<JsonV1Message> {
  const json = payloadJson(payload);
  if (!json.ok) return json;
  const parsed = replySchema.safeParse(json.value);
  if (!parsed.success) return reject(zodReason(parsed.error, 'reply'));
  const r = parsed.data;
  // a door command must not be reported as both succeeded and failed
  if (r.ok !== (r.result === 'done')) return reject(`reply: ok: ${r.ok} contradicts result "${r.result}"`);
  return accept({ kind: 'reply', unit, commandId: r.cid, ok: r.ok, result: r.result, at: r.ts });
}

function decodeState(unit: string, payload: Buffer | string): Decoded<JsonV1Message> {
  const json = payloadJson(payload);
  if (!json.ok) return json;
  const parsed = stateSchema.safeParse(json.value);
  if (!parsed.success) return reject(zodReason(parsed.error, 'state'));
  const s = parsed.data;
  if (s.sn !== unit) return reject(`state: sn: ${JSON.stringify(s.sn.slice(0, 40))} is not the topic's unit "${unit}"`);
  const seen = new Set<number>();
  for (const c of s.compartments) {
    if (seen.has(c.no)) return reject(`state: compartments: compartment ${c.no} listed twice`);
    seen.add(c.no);
  }
  return accept({
    kind: 'state',
    unit,
    seq: s.seq,
    firmware: s.fw,
    at: s.ts,
    compartments: s.compartments.map((c) => ({
      compartment: c.no,
      size: c.size,
      doorOpen: c.door === 'open',
      occupied: c.occupied,
      fault: c.fault,
    })),
  });
}

// ---- commands --------------------------------------------------------------------------------------------

export interface JsonV1Command {
  cid: string;
  op: 'open' | 'display' | 'keypad' | 'query' | 'set_time';
  args: Record<string, unknown>;
  exp: number;
}

/** lower-case hex HMAC-SHA256(key, `cid|op|exp|canonicalArgs`), UTF-8. */
export function signJsonV1(key: Buffer, cmd: JsonV1Command): string {
  // programmer errors: a '|' in cid would make the signed string ambiguous, a fractional exp prints differently
  if (!cmd.cid || cmd.cid.includes('|')) throw new RangeError('json-v1: cid must be non-empty and contain no "|"');
  if (!Number.isSafeInteger(cmd.exp) || cmd.exp < 0) throw new RangeError('json-v1: exp must be unix seconds');
  return createHmac('sha256', key).update(`${cmd.cid}|${cmd.op}|${cmd.exp}|${canonicalJson(cmd.args)}`, 'utf8').digest('hex');
}

/** Payload keys in the order cid, op, args, exp, sig; args in the caller's key order (only the signature sorts). */
export function encodeJsonV1Command(sn: string, key: Buffer, cmd: JsonV1Command): { topic: string; payload: string; sig: string } {
  const sig = signJsonV1(key, cmd);
  const payload = JSON.stringify({ cid: cmd.cid, op: cmd.op, args: cmd.args, exp: cmd.exp, sig });
  return { topic: jsonV1Topics.commands(sn), payload, sig };
}
