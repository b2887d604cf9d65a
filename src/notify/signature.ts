import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, Stripe-style: `X-Locker-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
 * The timestamp is inside the MAC so a captured request cannot be replayed later with a fresh `t`.
 * Receivers verify with `verifySignature` (exported for the property's integrators and for tests).
 */
export const SIGNATURE_HEADER = 'X-Locker-Signature';

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export type VerifyResult = { ok: true; t: number } | { ok: false; reason: 'malformed' | 'bad-mac' | 'stale' };

export function verifySignature(
  header: string | undefined,
  body: string,
  secret: string,
  opts: { nowSeconds?: number; toleranceSeconds?: number } = {},
): VerifyResult {
  if (!header) return { ok: false, reason: 'malformed' };
  const fields = new Map<string, string[]>();
  for (const part of header.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    fields.set(k, [...(fields.get(k) ?? []), part.slice(i + 1).trim()]);
  }
  const tRaw = fields.get('t')?.[0];
  const t = tRaw !== undefined && /^\d+$/.test(tRaw) ? Number(tRaw) : NaN;
  const macs = fields.get('v1') ?? [];
  if (!Number.isFinite(t) || macs.length === 0) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  const match = macs.some((m) => {
    const got = Buffer.from(m);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!match) return { ok: false, reason: 'bad-mac' };
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return { ok: false, reason: 'stale' };
  return { ok: true, t };
}
