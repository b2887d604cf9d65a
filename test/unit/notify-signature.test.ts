import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signatureHeader, verifySignature } from '../../src/notify/signature.js';

const secret = 'property-secret-123';
const body = JSON.stringify({ id: 'P1.collected', kind: 'collected', parcelId: 'P1', params: { compartment: 12 }, sentAt: 1 });

describe('webhook signature', () => {
  it('is t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">, verifiable by a receiver', () => {
    const header = signatureHeader(secret, body, 1764150000);
    const expected = createHmac('sha256', secret).update(`1764150000.${body}`).digest('hex');
    expect(header).toBe(`t=1764150000,v1=${expected}`);
    expect(verifySignature(header, body, secret, { nowSeconds: 1764150010 })).toEqual({ ok: true, t: 1764150000 });
  });

  it('rejects a changed body, a wrong secret, a replay outside the tolerance and junk', () => {
    const header = signatureHeader(secret, body, 1764150000);
    const now = { nowSeconds: 1764150000 };
    expect(verifySignature(header, body.replace('12', '13'), secret, now)).toEqual({ ok: false, reason: 'bad-mac' });
    expect(verifySignature(header, body, 'another-secret', now)).toEqual({ ok: false, reason: 'bad-mac' });
    // moving t breaks the MAC: the timestamp is signed
    expect(verifySignature(header.replace('t=1764150000', 't=1764159999'), body, secret, now).ok).toBe(false);
    expect(verifySignature(header, body, secret, { nowSeconds: 1764150000 + 301 })).toEqual({ ok: false, reason: 'stale' });
    expect(verifySignature(undefined, body, secret).ok).toBe(false);
    expect(verifySignature('v1=abc', body, secret)).toEqual({ ok: false, reason: 'malformed' });
  });
});
