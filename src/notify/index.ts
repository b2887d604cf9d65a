/** The notification pipeline's public surface (wired in by the parcel service and the runtime entries). */
export { Notifier, jobIdFor, describeRecipient, QUEUE_NAMES, type NotifierDeps, type NotifyConnection } from './notifier.js';
export { OutboxRelay, type OutboxRelayDeps } from './outbox.js';
export { PermanentError, InvalidNoticeError } from './errors.js';
export { nextAllowed, inQuietHours, type QuietHours } from './quiet.js';
export { renderText, TemplateError } from './templates.js';
export { maskPhone, normalizePhone } from './phone.js';
export { signatureHeader, verifySignature, SIGNATURE_HEADER } from './signature.js';
export * from './types.js';
