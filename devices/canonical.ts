/**
 * Canonical JSON for signatures (json-v1 `canonicalArgs`, compact-v2 `canonicalD`): object keys sorted
 * recursively, no white space, arrays in order.
 *
 * The unit verifies the signature over what it parses from the payload, and the payload is made with
 * JSON.stringify. So the value is first normalised through JSON.stringify/parse (undefined keys dropped,
 * NaN -> null, toJSON applied) to sign exactly what goes on the wire. The output is then built by hand
 * because a JS object cannot hold integer-like keys ("10", "2") in sorted string order.
 */
export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('canonicalJson: value has no JSON representation');
  return write(JSON.parse(text) as unknown);
}

function write(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    // Default sort = UTF-16 code unit order; the vendors' keys are ASCII, where every sort agrees.
    const keys = Object.keys(obj).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
