import { PermanentError } from '../errors.js';

export const HTTP_TIMEOUT_MS = 10_000;

/** Statuses worth retrying: the provider is overloaded, throttling or briefly broken. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

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
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const detail = e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new Error(`POST ${new URL(url).host} failed: ${detail}`);
  }
  // Read (and so release) the body either way; keep a short excerpt for the failure reason.
  const text = await res.text().catch(() => '');
  if (res.status >= 200 && res.status < 300) return;
  const reason = `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (retryable(res.status)) throw new Error(reason);
  throw new PermanentError(reason);
}
