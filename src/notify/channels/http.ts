import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { PermanentError } from '../errors.js';

export const HTTP_TIMEOUT_MS = 10_000;

/** Statuses worth retrying: the provider is overloaded, throttling or briefly broken. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Connections to the providers are kept open between requests (as fetch's did). node:http rather than fetch: a
 * worker's request through fetch cost ~2-3 ms of CPU (WHATWG streams, Request/Response objects, an abort signal per
 * request, headers and body in separate writes), the largest item in the workers' profile; a request here is one
 * write. An idle connection is closed after 4 s, or a second before the server's own `Keep-Alive: timeout` says it
 * will, so a request rarely meets a connection the server is closing.
 */
const agentOptions = { keepAlive: true, timeout: 4_000 };
const httpAgent = new HttpAgent(agentOptions);
const httpsAgent = new HttpsAgent(agentOptions);

/** The first 200 characters of a response body is all a failure reason keeps; the rest is read and dropped. */
const EXCERPT = 200;

/**
 * POST a JSON body. 2xx resolves; 408/429/5xx, timeouts and network errors throw a plain Error (retry);
 * any other status (4xx, and 3xx: redirects are not followed, a moved endpoint is a configuration error)
 * throws PermanentError.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs = HTTP_TIMEOUT_MS,
): Promise<void> {
  const target = new URL(url);
  let res: { status: number; text: string };
  try {
    res = await post(target, body, headers, timeoutMs);
  } catch (err) {
    const e = err as Error & { code?: string };
    const detail = e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.code ?? e.message);
    throw new Error(`POST ${target.host} failed: ${detail}`);
  }
  if (res.status >= 200 && res.status < 300) return;
  const reason = `HTTP ${res.status}${res.text ? `: ${res.text.slice(0, EXCERPT)}` : ''}`;
  if (retryable(res.status)) throw new Error(reason);
  throw new PermanentError(reason);
}

/** One request; the whole of it (connect, send, response and its body) within `timeoutMs`. */
function post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string }> {
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body, 'utf8');
    const req = (https ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      agent: https ? httpsAgent : httpAgent,
      headers: { 'content-type': 'application/json', ...headers, 'content-length': payload.length },
    });
    const timer = setTimeout(() => {
      const err = new Error(`timed out after ${timeoutMs} ms`);
      err.name = 'TimeoutError';
      reject(err); // first: what the destroy below makes the request or response report comes after, and is ignored
      req.destroy(err);
    }, timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    req.once('error', fail);
    req.once('response', (res: IncomingMessage) => {
      // Read (and so release) the body either way; keep a short excerpt for the failure reason.
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < EXCERPT) text += chunk;
      });
      res.once('error', fail);
      // cut short (the timeout, or the server went away mid-body): not an answer
      res.once('close', () => {
        if (!res.complete) fail(Object.assign(new Error('response cut short'), { code: 'ECONNRESET' }));
      });
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text });
      });
    });
    req.end(payload);
  });
}
