import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { StaffEnv } from '../auth.js';
import { readSessionCookie } from '../csrf.js';
import { ApiError } from '../errors.js';
import type { ConsoleDeps } from './deps.js';

/** Open live streams per process: each costs one socket and a subscription, never a Redis connection. */
const MAX_STREAMS = 500;

/**
 * GET /console/events: server-sent events for open console pages. `change` carries the topics of each change (see
 * store/feed.ts), fed from the evidence chains, so a change made through any gateway process reaches every page. A
 * comment every `heartbeatMs` keeps proxies from closing the stream; at each one the session is checked again, and
 * a page whose session ended (signed out, disabled, expired) is told `bye` and the stream closed.
 */
export function liveEvents(d: ConsoleDeps, heartbeatMs = 15_000) {
  let open = 0;
  return (c: Context<StaffEnv>) => {
    const feed = d.feed;
    if (!feed) throw new ApiError(503, 'unavailable', 'live updates are off in this process');
    if (open >= MAX_STREAMS) throw new ApiError(503, 'unavailable', 'too many live pages open; reload later');
    const cookie = readSessionCookie(c, d.auth.trustProxy) ?? '';
    c.header('Cache-Control', 'no-store');
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      open++;
      let queue: Promise<void> = Promise.resolve();
      const send = (event: string, data: string) => {
        queue = queue.then(() => stream.writeSSE({ event, data })).catch(() => undefined);
      };
      let wake: () => void = () => undefined;
      stream.onAbort(() => wake());
      const unsubscribe = feed.subscribe((change) => send('change', JSON.stringify({ topics: change.topics, kind: change.kind })));
      try {
        send('hello', JSON.stringify({ heartbeatMs }));
        while (!stream.aborted && !stream.closed) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, heartbeatMs);
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          if (stream.aborted) break;
          if (!(await d.auth.staff.session(cookie).catch(() => null))) {
            send('bye', '{}');
            break;
          }
          queue = queue.then(() => stream.write(': ping\n\n').then(() => undefined)).catch(() => undefined);
        }
        await queue;
      } finally {
        unsubscribe();
        open--;
      }
    });
  };
}
