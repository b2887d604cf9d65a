import type { Logger } from '../../log.js';
import { maskPhone } from '../phone.js';
import { renderText } from '../templates.js';
import type { NoticeJob } from '../types.js';
import type { Channel } from './channel.js';
import { webhookBody } from './webhook.js';

/**
 * Development stand-in for providers that are not configured: logs what would have been sent. The phone is
 * masked; the text is logged in full (it is what a developer needs to check), so do not point production
 * traffic here.
 */
/** A text the console "sent", for the development stand-in of residents' phones (GET /dev/phones/{phone}/sms). */
export interface ConsoleText {
  to: string;
  text: string;
  kind: string;
  parcelId: string | null;
  at: number;
}

export class ConsoleChannel implements Channel {
  readonly name = 'console' as const;

  constructor(
    private readonly logger: Logger,
    private readonly timeZone: string,
    private readonly now: () => number = Date.now,
    private readonly inbox?: (t: ConsoleText) => void,
  ) {}

  async send(job: NoticeJob): Promise<void> {
    const { notice } = job;
    if (job.route === 'sms' && notice.to.sms) {
      const text = renderText({ kind: notice.kind, lang: notice.to.lang, params: notice.params }, this.timeZone);
      this.logger.info('notice (console sms)', { jobId: job.jobId, to: maskPhone(notice.to.sms), text });
      this.inbox?.({ to: notice.to.sms, text, kind: notice.kind, parcelId: notice.parcelId ?? null, at: this.now() });
    } else {
      this.logger.info('notice (console webhook)', { jobId: job.jobId, body: webhookBody(job, this.now()) });
    }
  }
}
