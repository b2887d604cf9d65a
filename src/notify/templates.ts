import { PermanentError } from './errors.js';
import { formatDateTime } from './localtime.js';
import type { Lang, NoticeKind } from './types.js';

/**
 * SMS / console texts, zh and en, for every notice kind. Pure functions.
 *
 * Written for elderly readers: one short message, the place first (site + box number), then the code and the
 * time, no jargon, no links. Times are local wall clock (`11月29日18:00`). A missing parameter that the
 * text cannot do without is a PermanentError: the job would fail the same way on every retry.
 */
export type Params = Record<string, string | number>;

export interface RenderInput {
  kind: NoticeKind;
  lang: Lang;
  params: Params;
}

const BRAND: Record<Lang, string> = { zh: '【里厍社区快递柜】', en: '[Lishe Parcel Lockers] ' };

/** Carrier codes the couriers' systems send, with the names residents know. Unknown values are shown as is. */
const CARRIERS: Record<string, { zh: string; en: string }> = {
  SF: { zh: '顺丰', en: 'SF Express' },
  JD: { zh: '京东', en: 'JD Logistics' },
  ZTO: { zh: '中通', en: 'ZTO Express' },
  YTO: { zh: '圆通', en: 'YTO Express' },
  STO: { zh: '申通', en: 'STO Express' },
  YD: { zh: '韵达', en: 'Yunda Express' },
  YUNDA: { zh: '韵达', en: 'Yunda Express' },
  EMS: { zh: '邮政EMS', en: 'China Post EMS' },
  JT: { zh: '极兔', en: 'J&T Express' },
  DBL: { zh: '德邦', en: 'Deppon' },
  CAINIAO: { zh: '菜鸟', en: 'Cainiao' },
};

export class TemplateError extends PermanentError {
  override name = 'TemplateError';
}

function str(p: Params, key: string): string | undefined {
  const v = p[key];
  if (v === undefined || v === '') return undefined;
  return String(v);
}

function need(kind: NoticeKind, p: Params, key: string): string {
  const v = str(p, key);
  if (v === undefined) throw new TemplateError(`template ${kind}: missing parameter ${key}`);
  return v;
}

function needTime(kind: NoticeKind, p: Params, key: string): number {
  const v = Number(need(kind, p, key));
  if (!Number.isFinite(v) || v <= 0) throw new TemplateError(`template ${kind}: ${key} is not an epoch ms time`);
  return v;
}

export function carrierName(p: Params, lang: Lang): string | undefined {
  const own = str(p, lang === 'zh' ? 'carrierZh' : 'carrierEn');
  if (own) return own;
  const raw = str(p, 'carrier');
  if (!raw) return undefined;
  return CARRIERS[raw.toUpperCase()]?.[lang] ?? raw;
}

/** `(顺丰 …1234)`: enough for the resident to tell parcels apart, without the full tracking number. */
function parcelRef(p: Params, lang: Lang): string {
  const carrier = carrierName(p, lang);
  const tracking = str(p, 'tracking');
  const tail = tracking ? `…${tracking.slice(-4)}` : undefined;
  const inner = [carrier, tail].filter(Boolean).join(' ');
  return inner ? (lang === 'zh' ? `(${inner})` : ` (${inner})`) : '';
}

function site(kind: NoticeKind, p: Params, lang: Lang): string {
  const own = str(p, lang === 'zh' ? 'siteZh' : 'siteEn') ?? str(p, lang === 'zh' ? 'siteEn' : 'siteZh');
  if (!own) throw new TemplateError(`template ${kind}: missing parameter siteZh/siteEn`);
  return own;
}

/** `里厍二村北区 12号格口` / `Lishe Ercun North, box 12` */
function place(kind: NoticeKind, p: Params, lang: Lang): string {
  const box = need(kind, p, 'compartment');
  return lang === 'zh' ? `${site(kind, p, lang)} ${box}号格口` : `${site(kind, p, lang)}, box ${box}`;
}

const OUTCOME_TEXT: Record<string, { zh: string; en: string }> = {
  found: { zh: '包裹已找到', en: 'the parcel was found' },
  wrong_person: { zh: '包裹被他人取走', en: 'the parcel was handed to the wrong person' },
  compensated: { zh: '已予赔偿', en: 'you are compensated' },
  rejected: { zh: '申诉未获支持', en: 'the claim is not upheld' },
  other: { zh: '已处理', en: 'handled' },
};

/** A claim's outcome and the reason the resident is told (shortened by the caller to fit a text). */
function outcome(kind: NoticeKind, p: Params, lang: Lang): string {
  const o = need(kind, p, 'outcome');
  const text = OUTCOME_TEXT[o]?.[lang] ?? o;
  const reason = str(p, 'reason');
  return reason ? (lang === 'zh' ? `${text}(${reason})` : `${text} (${reason})`) : text;
}

type Render = (kind: NoticeKind, p: Params, tz: string) => string;

const ZH: Record<NoticeKind, Render> = {
  stored: (k, p, tz) =>
    `您的包裹${parcelRef(p, 'zh')}已存入${place(k, p, 'zh')}，取件码 ${need(k, p, 'code')}，` +
    `请在${formatDateTime(needTime(k, p, 'deadline'), 'zh', tz)}前取件。`,
  reminder: (k, p, tz) =>
    `提醒：您的包裹${parcelRef(p, 'zh')}还在${place(k, p, 'zh')}，` +
    (str(p, 'code') ? `取件码 ${str(p, 'code')}，` : '取件码见到件短信，') +
    `请在${formatDateTime(needTime(k, p, 'deadline'), 'zh', tz)}前取件。`,
  overdue: (k, p, tz) =>
    `您的包裹${parcelRef(p, 'zh')}已过取件期限(${formatDateTime(needTime(k, p, 'deadline'), 'zh', tz)})，` +
    `仍在${place(k, p, 'zh')}。请尽快取件，或联系物业。`,
  'overdue-courier': (k, p, tz) =>
    `您投递的包裹${parcelRef(p, 'zh')}在${place(k, p, 'zh')}超期未取` +
    (str(p, 'deadline') ? `(期限${formatDateTime(needTime(k, p, 'deadline'), 'zh', tz)})` : '') +
    (str(p, 'phoneTail') ? `，收件人尾号${str(p, 'phoneTail')}` : '') +
    `，请安排取回。`,
  collected: (k, p, tz) =>
    `您的包裹${parcelRef(p, 'zh')}已于${formatDateTime(needTime(k, p, 'collectedAt'), 'zh', tz)}` +
    `从${place(k, p, 'zh')}取出。如不是您本人取的，请马上联系物业。`,
  returned: (k, p) =>
    `您的包裹${parcelRef(p, 'zh')}已由快递员从${place(k, p, 'zh')}取回退件。如有疑问，请联系快递公司或物业。`,
  'deposit-cancelled': (k, p) =>
    `投递已取消：${place(k, p, 'zh')}没有存入包裹${parcelRef(p, 'zh')}，格口已释放。`,
  'keypad-locked': (k, p, tz) =>
    `警报：${site(k, p, 'zh')}快递柜` +
    (str(p, 'unit') ? `(${str(p, 'unit')})` : '') +
    `键盘多次输错取件码，已锁定` +
    (str(p, 'lockedUntil') ? `至${formatDateTime(needTime(k, p, 'lockedUntil'), 'zh', tz)}` : '') +
    `，请查看。`,
  missing: (k, p) =>
    `警报：${place(k, p, 'zh')}的包裹${parcelRef(p, 'zh')}未经取件就不见了` +
    (str(p, 'phoneTail') ? `(收件人尾号${str(p, 'phoneTail')})` : '') +
    `，请查看监控并联系收件人。`,
  'seq-suspect': (k, p) =>
    `警报：${site(k, p, 'zh')}快递柜` +
    (str(p, 'unit') ? `(${str(p, 'unit')})` : '') +
    `上报的事件序号异常跳变` +
    (str(p, 'seq') && str(p, 'lastSeq') ? `(${str(p, 'lastSeq')}→${str(p, 'seq')})` : '') +
    `，已忽略。如控制器已更换，请维护人员重置序号。`,
  'dead-letter': (k, p) =>
    `警报：网关多次处理失败，已将${site(k, p, 'zh')}快递柜` +
    (str(p, 'unit') ? `(${str(p, 'unit')})` : '') +
    `的一条${str(p, 'what') ?? '记录'}移入待处理队列，其他格口照常运行。请在后台查看。`,
  'staff-alert': (k, p) => `警报：${need(k, p, 'summaryZh')}。请在员工控制台查看并确认。`,
  'deadline-extended': (k, p, tz) =>
    `您的包裹${parcelRef(p, 'zh')}取件期限已延长到${formatDateTime(needTime(k, p, 'deadline'), 'zh', tz)}，` +
    `仍在${place(k, p, 'zh')}。`,
  otp: (k, p) => `您的登录验证码 ${need(k, p, 'code')}，${need(k, p, 'minutes')}分钟内有效。请勿告诉他人，物业不会向您索要验证码。`,
  lockdown: (k, p, tz) => {
    const where = str(p, 'scope') === 'fleet' ? '全部快递柜' : `${site(k, p, 'zh')}快递柜` + (str(p, 'unit') ? `(${str(p, 'unit')})` : '');
    const since = str(p, 'since') ? `${formatDateTime(needTime(k, p, 'since'), 'zh', tz)}起` : '';
    return str(p, 'cause') === 'manual'
      ? `通知：${where}${since}已由${str(p, 'by') ?? '工作人员'}紧急锁定(${str(p, 'reason') ?? '未写原因'})，只有管理员能开门，投件取件暂停。请核查后由管理员解除。`
      : `警报：${where}1分钟内被远程打开${str(p, 'count') ?? '多'}个无包裹记录的格口，${since}已自动锁定，只有管理员能开门，投件取件暂停。请立即核查，由管理员解除。`;
  },
  'claim-opened': (k, p) =>
    `您的丢件申诉已登记，编号${need(k, p, 'ref')}。物业将在${need(k, p, 'ackHours')}小时内响应、` + `${need(k, p, 'resolveHours')}小时内给出处理结果。`,
  'claim-acknowledged': (k, p) => `您的丢件申诉${need(k, p, 'ref')}已由物业受理，正在处理。`,
  'claim-question': (k, p) => `关于您的丢件申诉${need(k, p, 'ref')}，物业需要您补充情况。请登录查看并回复。`,
  'claim-resolved': (k, p) =>
    `您的丢件申诉${need(k, p, 'ref')}已处理：${outcome(k, p, 'zh')}。如有异议，7天内可重新申诉；欢迎为本次处理打分(1-5分)。`,
  'claim-alert': (k, p, tz) => {
    const clock = need(k, p, 'clock') === 'ack' ? '响应' : '处理';
    const at = formatDateTime(needTime(k, p, 'dueAt'), 'zh', tz);
    return need(k, p, 'stage') === 'breached'
      ? `警报：丢件申诉${need(k, p, 'ref')}已于${at}超过${clock}时限，请立即处理。`
      : `提醒：丢件申诉${need(k, p, 'ref')}将于${at}超过${clock}时限，请尽快处理。`;
  },
};

const EN: Record<NoticeKind, Render> = {
  stored: (k, p, tz) =>
    `Your parcel${parcelRef(p, 'en')} is in ${place(k, p, 'en')}. Pickup code: ${need(k, p, 'code')}. ` +
    `Please collect it by ${formatDateTime(needTime(k, p, 'deadline'), 'en', tz)}.`,
  reminder: (k, p, tz) =>
    `Reminder: your parcel${parcelRef(p, 'en')} is still in ${place(k, p, 'en')}. ` +
    (str(p, 'code') ? `Pickup code: ${str(p, 'code')}. ` : 'Use the pickup code from your arrival message. ') +
    `Please collect it by ${formatDateTime(needTime(k, p, 'deadline'), 'en', tz)}.`,
  overdue: (k, p, tz) =>
    `Your parcel${parcelRef(p, 'en')} was due for pickup by ${formatDateTime(needTime(k, p, 'deadline'), 'en', tz)} ` +
    `and is still in ${place(k, p, 'en')}. Please collect it soon or contact the property office.`,
  'overdue-courier': (k, p, tz) =>
    `Parcel${parcelRef(p, 'en')} in ${place(k, p, 'en')} was not collected` +
    (str(p, 'deadline') ? ` by ${formatDateTime(needTime(k, p, 'deadline'), 'en', tz)}` : '') +
    (str(p, 'phoneTail') ? ` (recipient phone ending ${str(p, 'phoneTail')})` : '') +
    `. Please arrange to take it back.`,
  collected: (k, p, tz) =>
    `Your parcel${parcelRef(p, 'en')} was collected from ${place(k, p, 'en')} at ` +
    `${formatDateTime(needTime(k, p, 'collectedAt'), 'en', tz)}. If this was not you, please call the property office now.`,
  returned: (k, p) =>
    `Your parcel${parcelRef(p, 'en')} was taken back by the courier from ${place(k, p, 'en')} (returned to sender). ` +
    `Questions? Contact the carrier or the property office.`,
  'deposit-cancelled': (k, p) =>
    `Deposit cancelled: no parcel${parcelRef(p, 'en')} was left in ${place(k, p, 'en')}. The box is free again.`,
  'keypad-locked': (k, p, tz) =>
    `Alert: the keypad of the ${site(k, p, 'en')} locker` +
    (str(p, 'unit') ? ` (${str(p, 'unit')})` : '') +
    ` is locked` +
    (str(p, 'lockedUntil') ? ` until ${formatDateTime(needTime(k, p, 'lockedUntil'), 'en', tz)}` : '') +
    ` after repeated wrong codes. Please check.`,
  missing: (k, p) =>
    `Alert: the parcel${parcelRef(p, 'en')} in ${place(k, p, 'en')} is gone without a pickup` +
    (str(p, 'phoneTail') ? ` (recipient phone ending ${str(p, 'phoneTail')})` : '') +
    `. Please check the camera and call the recipient.`,
  'seq-suspect': (k, p) =>
    `Alert: the ${site(k, p, 'en')} locker` +
    (str(p, 'unit') ? ` (${str(p, 'unit')})` : '') +
    ` reported an impossible event number` +
    (str(p, 'seq') && str(p, 'lastSeq') ? ` (${str(p, 'seq')} after ${str(p, 'lastSeq')})` : '') +
    `; it was ignored. If its controller was replaced, have maintenance reset the sequence.`,
  'dead-letter': (k, p) =>
    `Alert: the gateway failed repeatedly on one ${str(p, 'what') ?? 'record'} from the ${site(k, p, 'en')} locker` +
    (str(p, 'unit') ? ` (${str(p, 'unit')})` : '') +
    ` and set it aside for staff; every other compartment carries on. Please check the dead letters.`,
  'staff-alert': (k, p) => `Alert: ${need(k, p, 'summaryEn')}. Please check the staff console and acknowledge it.`,
  'deadline-extended': (k, p, tz) =>
    `Your parcel${parcelRef(p, 'en')} in ${place(k, p, 'en')} can now be collected until ` +
    `${formatDateTime(needTime(k, p, 'deadline'), 'en', tz)}.`,
  otp: (k, p) =>
    `Your sign-in code is ${need(k, p, 'code')}. It expires in ${need(k, p, 'minutes')} minutes. ` +
    `Never share it: the property office will never ask you for it.`,
  lockdown: (k, p, tz) => {
    const where = str(p, 'scope') === 'fleet' ? 'every locker' : `the ${site(k, p, 'en')} locker` + (str(p, 'unit') ? ` (${str(p, 'unit')})` : '');
    const since = str(p, 'since') ? ` since ${formatDateTime(needTime(k, p, 'since'), 'en', tz)}` : '';
    return str(p, 'cause') === 'manual'
      ? `Notice: ${where} is locked down${since} by ${str(p, 'by') ?? 'staff'} (${str(p, 'reason') ?? 'no reason given'}). ` +
          `Only admins can open; deposits and pickups wait till an admin lifts it.`
      : `Alert: ${str(p, 'count') ?? 'many'} doors opened remotely in one minute at ${where}, none for a parcel: locked down${since}. ` +
          `Only admins can open; deposits and pickups wait till an admin lifts it.`;
  },
  'claim-opened': (k, p) =>
    `Your lost-parcel claim is registered as ${need(k, p, 'ref')}. The property office will respond within ` +
    `${need(k, p, 'ackHours')} h and resolve it within ${need(k, p, 'resolveHours')} h.`,
  'claim-acknowledged': (k, p) => `Your claim ${need(k, p, 'ref')} has been taken up by the property office and is being handled.`,
  'claim-question': (k, p) =>
    `The property office needs more information about your claim ${need(k, p, 'ref')}. Please sign in to read the question and answer it.`,
  'claim-resolved': (k, p) =>
    `Your claim ${need(k, p, 'ref')} is resolved: ${outcome(k, p, 'en')}. Not satisfied? You may reopen it within 7 days. ` +
    `Please rate how it was handled (1-5).`,
  'claim-alert': (k, p, tz) => {
    const clock = need(k, p, 'clock') === 'ack' ? 'response' : 'resolution';
    const at = formatDateTime(needTime(k, p, 'dueAt'), 'en', tz);
    return need(k, p, 'stage') === 'breached'
      ? `Alert: lost-parcel claim ${need(k, p, 'ref')} missed its ${clock} deadline (${at}). Please handle it at once.`
      : `Reminder: lost-parcel claim ${need(k, p, 'ref')} reaches its ${clock} deadline at ${at}. Please handle it now.`;
  },
};

/** The full text of a notice, brand prefix included. Throws TemplateError on missing parameters. */
export function renderText(input: RenderInput, timeZone: string): string {
  const table = input.lang === 'en' ? EN : ZH;
  return BRAND[input.lang] + table[input.kind](input.kind, input.params, timeZone);
}
