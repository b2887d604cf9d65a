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
    // several gateways: an open not back after its command's whole time (queue grace included,
    // src/scale/remote-commands.ts) died with its gateway; a code typed again may open the door
    ...(config.UNIT_LEASES ? { staleOpenMs: Math.min(config.INTENT_TIMEOUT_MS, config.COMMAND_TIMEOUT_MS + 5_000) } : {}),
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
    backoffMaxMs: config.NOTIFY_BACKOFF_MAX_MS,
    // several gateways: a job a dead gateway's worker held runs again elsewhere within a lease's time (BullMQ's
    // default is a 30 s lock checked every 30 s: up to a minute)
    ...(config.UNIT_LEASES ? { worker: { lockDurationMs: config.LEASE_TTL_MS, stalledIntervalMs: config.LEASE_RENEW_MS } } : {}),
  };
}
