import { PermanentError } from '../errors.js';
import { SIGNATURE_HEADER, signatureHeader } from '../signature.js';
import type { NoticeJob } from '../types.js';
import type { Channel } from './channel.js';
import { postJson } from './http.js';

export interface WebhookTarget {
  url: string;
  secret: string;
}

/** Parameters a webhook never carries: the pickup code is the resident's alone (couriers must not see it). */
const PRIVATE_PARAMS = ['code'];

export function webhookBody(job: NoticeJob, sentAt: number): string {
  const { notice } = job;
  const params = Object.fromEntries(Object.entries(notice.params).filter(([k]) => !PRIVATE_PARAMS.includes(k)));
  return JSON.stringify({ id: notice.id, kind: notice.kind, parcelId: notice.parcelId ?? null, params, sentAt });
}

/**
 * Couriers' and the property's systems. Signed body (signature.ts) plus Idempotency-Key = job id, which
 * stays the same across retries while `sentAt` and the signature's `t` change.
 */
export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;

  constructor(
    private readonly property: WebhookTarget | null,
    private readonly now: () => number = Date.now,
  ) {}

  target(job: NoticeJob): WebhookTarget {
    const wh = job.notice.to.webhook;
    if (!wh) throw new PermanentError('webhook job without a webhook target');
    if (wh === 'property') {
      if (!this.property) throw new PermanentError('no property webhook configured');
      return this.property;
    }
    return { url: wh.url, secret: wh.secret };
  }

  async send(job: NoticeJob): Promise<void> {
    const { url, secret } = this.target(job);
    const now = this.now();
    const body = webhookBody(job, now);
    await postJson(url, body, {
      [SIGNATURE_HEADER]: signatureHeader(secret, body, Math.floor(now / 1000)),
      'Idempotency-Key': job.jobId,
    });
  }
}
