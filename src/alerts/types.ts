/** Staff alerts: what they are about, pure types (no I/O). */
export const ALERT_KINDS = [
  'unit-offline',
  'keypad-locked',
  'door-jammed',
  'door-forced',
  'door-left-open',
  'tamper',
  'power',
  'parcel-missing',
  'dead-letter',
  'claim-clock',
  'lockdown',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/**
 * Something staff must look at, raised once per occurrence:
 * - `key` names the occurrence (a unit offline since a given time, a door open since a given time, a parcel gone,
 *   one dead letter…): an occurrence raised before is never raised again;
 * - `subject` names what it is about (a door, a unit): while an alert about a subject is open (not acknowledged), a
 *   new occurrence about it is folded into that alert (`repeats`) instead of raising another.
 */
export interface AlertDraft {
  kind: AlertKind;
  key: string;
  subject: string;
  unit?: string;
  compartment?: number;
  parcel?: string;
  claim?: string;
  /** when the condition began (the event's time) */
  at: number;
  /** short facts for the text (strings and numbers only) */
  detail: Record<string, string | number>;
  /** already told to staff by its own notice (a claim's clock, for example): the console only */
  notified?: boolean;
}

export interface Alert extends Omit<AlertDraft, 'notified'> {
  id: string;
  raisedAt: number;
  ackedAt: number | null;
  ackedBy: { id: string; name: string } | null;
  /** occurrences folded into this alert while it was open */
  repeats: number;
  /**
   * when its condition ended by itself (the unit back online, the door closed, the keypad unlocked, the parcel found,
   * the claim resolved…), and what ended it. A cleared alert is no longer open (it stays in the history, and staff
   * can still acknowledge it); a new occurrence about the same subject raises a new alert.
   */
  clearedAt: number | null;
  clearReason: string | null;
}

/** What staff read: Chinese first, English beside. */
export const ALERT_LABELS: Record<AlertKind, { zh: string; en: string }> = {
  'unit-offline': { zh: '快递柜离线', en: 'Unit offline' },
  'keypad-locked': { zh: '键盘已锁定', en: 'Keypad locked' },
  'door-jammed': { zh: '柜门卡住', en: 'Door jammed' },
  'door-forced': { zh: '柜门被撬开', en: 'Door forced' },
  'door-left-open': { zh: '柜门未关', en: 'Door left open' },
  tamper: { zh: '防拆报警', en: 'Tamper alarm' },
  power: { zh: '电源报警', en: 'Power alarm' },
  'parcel-missing': { zh: '包裹不见了', en: 'Parcel gone missing' },
  'dead-letter': { zh: '事件处理失败', en: 'Event set aside (dead letter)' },
  'claim-clock': { zh: '理赔时限', en: 'Claim clock' },
  lockdown: { zh: '紧急锁定', en: 'Lockdown' },
};

/** One line for a text message or a list: `快递柜离线 Unit offline · LSN-0001 · 7号 box 7`. */
export function alertSummary(a: Pick<AlertDraft, 'kind' | 'unit' | 'compartment' | 'detail'>, lang: 'zh' | 'en'): string {
  const label = ALERT_LABELS[a.kind][lang];
  const where = [a.unit, a.compartment !== undefined ? (lang === 'zh' ? `${a.compartment}号格口` : `box ${a.compartment}`) : undefined]
    .filter(Boolean)
    .join(lang === 'zh' ? ' ' : ', ');
  const extra = typeof a.detail.note === 'string' ? a.detail.note : '';
  return [label, where, extra].filter(Boolean).join(lang === 'zh' ? '：' : ': ');
}
