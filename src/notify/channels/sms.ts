import { renderText } from '../templates.js';
import { toE164 } from '../phone.js';
import { PermanentError } from '../errors.js';
import type { NoticeJob } from '../types.js';
import type { Channel } from './channel.js';
import { postJson } from './http.js';

export interface SmsConfig {
  url: string;
  token?: string;
}

/**
 * The SMS provider's HTTP API: POST {to, text, id}. The job id goes both in the body and in the
 * Idempotency-Key header, so a provider that dedupes on either sends one message for a job that we had to
 * send twice (see the crash window described in notifier.ts).
 */
export class SmsChannel implements Channel {
  readonly name = 'sms' as const;

  constructor(
    private readonly config: SmsConfig,
    private readonly timeZone: string,
  ) {}

  async send(job: NoticeJob): Promise<void> {
    const { notice } = job;
    if (!notice.to.sms) throw new PermanentError('sms job without a phone number');
    const text = renderText({ kind: notice.kind, lang: notice.to.lang, params: notice.params }, this.timeZone);
    const body = JSON.stringify({ to: toE164(notice.to.sms), text, id: job.jobId });
    const headers: Record<string, string> = { 'Idempotency-Key': job.jobId };
    if (this.config.token) headers.Authorization = `Bearer ${this.config.token}`;
    await postJson(this.config.url, body, headers);
  }
}
