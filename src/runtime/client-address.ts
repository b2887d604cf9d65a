import { getConnInfo } from '@hono/node-server/conninfo';
import type { ClientAddress } from '../http/deps.js';

/**
 * The client's address on the Node server, for per-address limits. With TRUST_PROXY, the last X-Forwarded-For
 * entry: the one our own proxy appended (everything before it is whatever the client chose to send). Node-only
 * (the socket's address): the Worker has its own (CF-Connecting-IP, src/edge/deps.ts).
 */
export function nodeClientAddress(trustProxy: boolean): ClientAddress {
  return (c) => {
    if (trustProxy) {
      const xff = c.req.header('x-forwarded-for');
      const last = xff?.split(',').at(-1)?.trim();
      if (last) return last;
    }
    try {
      return getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
}
