import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { ConsoleDeps } from '../../src/http/console/deps.js';
import { liveEvents } from '../../src/http/console/live.js';
import type { Change } from '../../src/store/feed.js';

/** The live stream alone, on fakes: changes go out as they come; a session that ends closes the stream with `bye`. */
describe('console live stream', () => {
  it('sends each change, then `bye` once the session has ended, and lets go of the feed', async () => {
    const listeners = new Set<(c: Change) => void>();
    let signedIn = true;
    const deps = {
      auth: { trustProxy: false, staff: { session: async () => (signedIn ? { member: {}, session: {} } : null) } },
      feed: { subscribe: (fn: (c: Change) => void) => (listeners.add(fn), () => listeners.delete(fn)) },
    } as unknown as ConsoleDeps;
    const app = new Hono().get('/console/events', liveEvents(deps, 40) as never);
    const res = await app.request('/console/events', { headers: { cookie: 'lg_staff=abc' } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (what: string) => {
      while (!text.includes(what)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${what}: ${text}`);
        text += decoder.decode(value);
      }
    };
    await until('event: hello');
    expect(listeners.size).toBe(1);
    for (const fn of listeners) fn({ topics: ['unit:LSN-0001', 'units'], kind: 'door-opened', at: 1 });
    await until('event: change\ndata: {"topics":["unit:LSN-0001","units"],"kind":"door-opened"}');
    await until(': ping');
    signedIn = false;
    await until('event: bye');
    expect((await reader.read()).done).toBe(true);
    expect(listeners.size).toBe(0);
  });
});
