import type { Config } from '../../config/config.js';
import type { ParcelPolicy } from '../../parcels/service.js';

/** The parcel rules' settings. */
export function parcelPolicy(config: Config): ParcelPolicy {
  return {
    holdMs: config.HOLD_HOURS * 3600_000,
    extendMs: config.EXTEND_HOURS * 3600_000,
    reminderHours: config.REMINDER_HOURS,
    depositOpenTimeoutMs: config.DEPOSIT_OPEN_TIMEOUT_MS,
    codeMaxAgeMs: config.CODE_MAX_AGE_MS,
    intentTimeoutMs: config.INTENT_TIMEOUT_MS,
    lockout: { max: config.LOCKOUT_ATTEMPTS, windowMs: config.LOCKOUT_WINDOW_MS, lockMs: config.LOCKOUT_MS },
    presenceCodes: config.PRESENCE_CODES,
  };
}

/** The notifier's settings (queues, quiet hours, SMS and webhook providers, retries). */
export function notifyConfig(config: Config) {
  const [start, end] = config.QUIET_HOURS === 'off' ? [] : config.QUIET_HOURS.split('-');
  return {
    prefix: `${config.REDIS_PREFIX}bull`,
    timeZone: config.TIME_ZONE,
    quietHours: start && end ? { start, end } : null,
    sms: config.SMS_URL ? { url: config.SMS_URL, ...(config.SMS_TOKEN ? { token: config.SMS_TOKEN } : {}), ratePerSecond: config.SMS_RATE_PER_S } : null,
    propertyWebhook:
      config.PROPERTY_WEBHOOK_URL && config.PROPERTY_WEBHOOK_SECRET ? { url: config.PROPERTY_WEBHOOK_URL, secret: config.PROPERTY_WEBHOOK_SECRET } : null,
    webhookRatePerSecond: config.WEBHOOK_RATE_PER_S,
    attempts: config.NOTIFY_ATTEMPTS,
    backoffMs: config.NOTIFY_BACKOFF_MS,
  };
}
