import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postJson } from '../../src/notify/channels/http.js';
import { PermanentError } from '../../src/notify/errors.js';

/** A real HTTP server on a free port; `answer` decides each response. Records requests and the sockets they came on. */
async function serve(answer: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const seen: { headers: IncomingMessage['headers']; body: string; method: string; socket: Socket }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body, method: req.method ?? '', socket: req.socket });
      answer(req, body, res);
    });
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { url, seen, close };
}

/** The error a request failed with (it must fail). */
async function failure(p: Promise<void>): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as Error,
  );
  if (!err) throw new Error('expected the request to fail');
  return err;
}

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers) await c();
  closers = [];
});
async function server(answer: Parameters<typeof serve>[0]) {
  const s = await serve(answer);
  closers.push(s.close);
  return s;
}

describe('postJson (the SMS and webhook channels)', () => {
  it('POSTs the JSON body with its headers and resolves on a 2xx; requests share one kept-alive connection', async () => {
    const s = await server((_q, _b, res) => res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}'));
    const body = JSON.stringify({ to: '+8613800138000', text: '取件码 123456 — 柜 3', id: 'P1.stored.sms' });
    await postJson(s.url, body, { 'Idempotency-Key': 'P1.stored.sms', Authorization: 'Bearer t' });
    await postJson(s.url, body, { 'Idempotency-Key': 'P2.stored.sms' });
    expect(s.seen).toHaveLength(2);
    expect(s.seen[0]).toMatchObject({ method: 'POST', body, headers: { 'content-type': 'application/json', 'idempotency-key': 'P1.stored.sms', authorization: 'Bearer t' } });
    expect(JSON.parse(s.seen[0]!.body)).toEqual(JSON.parse(body));
    expect(Number(s.seen[0]!.headers['content-length'])).toBe(Buffer.byteLength(body));
    expect(s.seen[1]!.headers['idempotency-key']).toBe('P2.stored.sms');
    expect(s.seen[1]!.socket).toBe(s.seen[0]!.socket);
  });

  it('408, 429 and 5xx are worth a retry (plain Error), with the start of the body as the reason', async () => {
    for (const status of [408, 429, 500, 503]) {
      const s = await server((_q, _b, res) => res.writeHead(status).end(`busy ${'x'.repeat(500)}`));
      const err = await failure(postJson(s.url, '{}', {}));
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(PermanentError);
      expect((err as Error).message).toBe(`HTTP ${status}: busy ${'x'.repeat(195)}`);
    }
  });

  it('other statuses are permanent, and a redirect is not followed', async () => {
    const s = await server((req, _b, res) => {
      if (req.url === '/moved') res.writeHead(200).end('{}');
      else if (req.url === '/sms') res.writeHead(301, { location: '/moved' }).end();
      else res.writeHead(400).end('bad phone');
    });
    await expect(postJson(s.url, '{}', {})).rejects.toThrow(PermanentError);
    await expect(postJson(s.url, '{}', {})).rejects.toThrow(/^HTTP 301$/);
    expect(s.seen.map((r) => r.method)).toEqual(['POST', 'POST']);
    await expect(postJson(s.url.replace('/sms', '/other'), '{}', {})).rejects.toThrow(/^HTTP 400: bad phone$/);
  });

  it('a provider that does not answer in time, or is not there, is worth a retry', async () => {
    const s = await server(() => {
      // never answers
    });
    const slow = await failure(postJson(s.url, '{}', {}, 150));
    expect(slow).not.toBeInstanceOf(PermanentError);
    expect(slow.message).toBe(`POST ${new URL(s.url).host} failed: timed out after 150 ms`);

    const gone = await server(() => {});
    await gone.close();
    closers = closers.filter((c) => c !== gone.close);
    const refused = await failure(postJson(gone.url, '{}', {}));
    expect(refused).not.toBeInstanceOf(PermanentError);
    expect(refused.message).toBe(`POST ${new URL(gone.url).host} failed: ECONNREFUSED`);
  });

  it('a response cut off in the middle of its body is worth a retry', async () => {
    const s = await server((req, _b, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"ok":');
      req.socket.destroy();
    });
    const err = await failure(postJson(s.url, '{}', {}));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/^POST .* failed: /);
  });
});
