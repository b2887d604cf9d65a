/**
 * The edge <-> site queue, in Redis. Pure: shared by the Worker (src/edge/queue.ts) and the site gateway's consumer
 * (src/edge/consumer.ts).
 *
 * - The edge appends a request to a stream: `edge:q:<unit>` for a door request at a known unit, `edge:q:_site` for
 *   everything else (a deposit without a unit, returns, reads, sign-in). Each entry carries its deadline.
 * - Exactly one side claims a request (SET NX on `edge:claim:<id>`): the site consumer before it runs it, or the edge
 *   when it gives up waiting. A request the edge gave up on is never run; a request past its deadline is discarded.
 * - The site answers on `edge:res:<id>` (a list the edge BLPOPs), then acknowledges the entry.
 */

export const SITE_STREAM = '_site';

export const edgeKeys = (prefix: string) => ({
  stream: (lane: string) => `${prefix}edge:q:${lane}`,
  claim: (id: string) => `${prefix}edge:claim:${id}`,
  result: (id: string) => `${prefix}edge:res:${id}`,
  /** the site consumer's heartbeat: present while it runs */
  alive: `${prefix}edge:site-alive`,
});

export const GROUP = 'site';
export const CLAIM_TTL_MS = 10 * 60_000;
export const RESULT_TTL_MS = 60_000;
export const ALIVE_TTL_MS = 10_000;
/** Entries kept per stream (a bound, not a backlog: entries are deleted once answered). */
export const STREAM_MAXLEN = 10_000;

export const EDGE_OPS = [
  'deposit',
  'remotePickup',
  'returnParcel',
  'get',
  'residentParcels',
  'extend',
  'extendOwn',
  'residentHistory',
  'requestCode',
  'verify',
  'authenticateResident',
  'signOut',
] as const;
export type EdgeOp = (typeof EDGE_OPS)[number];

export interface EdgeRequest {
  id: string;
  op: EdgeOp;
  args: Record<string, unknown>;
  /** epoch ms (wall time): past it the site discards the request unrun */
  deadline: number;
}

export type EdgeResult =
  | { ok: true; value: unknown }
  | { ok: false; status: number; code: string; message: string; details?: Record<string, unknown> };
