/**
 * Errors of the notification pipeline. Channels throw `PermanentError` for failures that retrying cannot fix
 * (the provider refused the message: 4xx, bad template parameters); the worker turns it into BullMQ's
 * `UnrecoverableError`. Any other error is treated as transient and retried with backoff.
 */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/** A notice that does not pass the schema (or cannot be rendered): rejected at enqueue time, never queued. */
export class InvalidNoticeError extends Error {
  override name = 'InvalidNoticeError';
}
