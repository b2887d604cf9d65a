import type { ChannelName, NoticeJob } from '../types.js';

/**
 * A delivery channel. `send` resolves when the provider accepted the message, throws PermanentError when
 * retrying cannot help (→ BullMQ UnrecoverableError) and any other error when it can (→ retry with backoff).
 */
export interface Channel {
  readonly name: ChannelName;
  send(job: NoticeJob): Promise<void>;
}
