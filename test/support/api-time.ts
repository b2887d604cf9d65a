/** An API time: ISO 8601 with the community's offset, as src/http/time.ts writes it. */
export const API_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/;

/**
 * JSON from the API with its times read back as epoch ms: these tests do arithmetic on times (deadline = storedAt
 * + 72 h, a token's expiry against the test clock). test/integration/http-people.test.ts checks the format itself.
 */
export function parseApiJson(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && API_TIME.test(v) ? Date.parse(v) : v));
}
