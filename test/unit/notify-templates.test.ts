import { describe, expect, it } from 'vitest';
import { formatDateTime } from '../../src/notify/localtime.js';
import { renderText, TemplateError } from '../../src/notify/templates.js';
import { NOTICE_KINDS, type Lang } from '../../src/notify/types.js';

const TZ = 'Asia/Shanghai';
const deadline = Date.parse('2025-11-29T18:00:00+08:00');
const params = {
  carrier: 'SF',
  tracking: 'SF1234561234',
  siteZh: '里厍二村北区',
  siteEn: 'Lishe Ercun North',
  unit: 'LSN-0001',
  compartment: 12,
  code: '482913',
  deadline,
  collectedAt: Date.parse('2025-11-27T09:15:00+08:00'),
  lockedUntil: Date.parse('2025-11-27T09:25:00+08:00'),
  phoneTail: '5678',
  minutes: 5,
  // claims
  ref: 'K00042',
  ackHours: 2,
  resolveHours: 48,
  outcome: 'rejected',
  reason: '监控显示本人已取件',
  clock: 'ack',
  stage: 'near',
  dueAt: deadline,
  // staff alerts (the console's alert engine)
  summaryZh: '北区快递柜离线超过5分钟',
  summaryEn: 'the north locker has been offline for over 5 minutes',
};
/** Kinds about no place (a sign-in code, a claim): their texts name no site. */
const PLACELESS = new Set(['otp', 'claim-opened', 'claim-acknowledged', 'claim-question', 'claim-resolved', 'claim-alert', 'staff-alert']);

describe('notice templates', () => {
  it('renders the stored notice in Chinese exactly as the residents expect', () => {
    expect(renderText({ kind: 'stored', lang: 'zh', params }, TZ)).toBe(
      '【里厍社区快递柜】您的包裹(顺丰 …1234)已存入里厍二村北区 12号格口，取件码 482913，请在11月29日18:00前取件。',
    );
  });

  it('renders the stored notice in English', () => {
    expect(renderText({ kind: 'stored', lang: 'en', params }, TZ)).toBe(
      '[Lishe Parcel Lockers] Your parcel (SF Express …1234) is in Lishe Ercun North, box 12. Pickup code: 482913. ' +
        'Please collect it by 29 Nov 18:00.',
    );
  });

  it('says when a parcel was collected, local time, with what to do if it was not you', () => {
    const zh = renderText({ kind: 'collected', lang: 'zh', params }, TZ);
    expect(zh).toBe('【里厍社区快递柜】您的包裹(顺丰 …1234)已于11月27日09:15从里厍二村北区 12号格口取出。如不是您本人取的，请马上联系物业。');
    expect(renderText({ kind: 'collected', lang: 'en', params }, TZ)).toContain('at 27 Nov 09:15');
  });

  it('reminds without the code when the caller does not have it', () => {
    const { code: _c, ...noCode } = params;
    expect(renderText({ kind: 'reminder', lang: 'zh', params: noCode }, TZ)).toBe(
      '【里厍社区快递柜】提醒：您的包裹(顺丰 …1234)还在里厍二村北区 12号格口，取件码见到件短信，请在11月29日18:00前取件。',
    );
    expect(renderText({ kind: 'reminder', lang: 'en', params }, TZ)).toContain('Pickup code: 482913.');
  });

  it('has a short, complete text for every kind in both languages', () => {
    for (const kind of NOTICE_KINDS) {
      for (const lang of ['zh', 'en'] as Lang[]) {
        const text = renderText({ kind, lang, params }, TZ);
        expect(text, `${kind}/${lang}`).not.toMatch(/undefined|NaN|null|\[object/);
        expect(text.startsWith(lang === 'zh' ? '【里厍社区快递柜】' : '[Lishe Parcel Lockers] ')).toBe(true);
        if (!PLACELESS.has(kind)) expect(text).toContain(lang === 'zh' ? '里厍二村北区' : 'Lishe Ercun North');
        // Short enough for elderly readers and for at most two SMS segments (70 chars each for Chinese).
        expect(text.length, `${kind}/${lang}: ${text}`).toBeLessThanOrEqual(lang === 'zh' ? 120 : 240);
      }
    }
  });

  it('mentions the box number and no pickup code in courier and staff texts', () => {
    const courier = renderText({ kind: 'overdue-courier', lang: 'zh', params }, TZ);
    expect(courier).toContain('12号格口');
    expect(courier).not.toContain('482913');
    const staff = renderText({ kind: 'keypad-locked', lang: 'zh', params }, TZ);
    expect(staff).toBe('【里厍社区快递柜】警报：里厍二村北区快递柜(LSN-0001)键盘多次输错取件码，已锁定至11月27日09:25，请查看。');
    expect(staff).not.toContain('482913');
  });

  it('falls back to the other language for the site name and shows unknown carriers as given', () => {
    const p = { ...params, siteEn: '', carrier: '小蜜蜂快递' };
    const en = renderText({ kind: 'deadline-extended', lang: 'en', params: p }, TZ);
    expect(en).toBe('[Lishe Parcel Lockers] Your parcel (小蜜蜂快递 …1234) in 里厍二村北区, box 12 can now be collected until 29 Nov 18:00.');
  });

  it('refuses to render without a parameter the text needs', () => {
    const { code: _c, ...noCode } = params;
    expect(() => renderText({ kind: 'stored', lang: 'zh', params: noCode }, TZ)).toThrow(TemplateError);
    expect(() => renderText({ kind: 'stored', lang: 'zh', params: { ...params, deadline: 'tomorrow' } }, TZ)).toThrow(/deadline/);
    expect(() => renderText({ kind: 'collected', lang: 'en', params: { ...params, siteZh: '', siteEn: '' } }, TZ)).toThrow(/site/);
  });

  it('formats times on the local wall clock of the zone, not of the machine', () => {
    const t = Date.parse('2025-11-29T23:30:00Z'); // 07:30 the next day in Shanghai
    expect(formatDateTime(t, 'zh', 'Asia/Shanghai')).toBe('11月30日07:30');
    expect(formatDateTime(t, 'en', 'Asia/Shanghai')).toBe('30 Nov 07:30');
    expect(formatDateTime(t, 'en', 'America/New_York')).toBe('29 Nov 18:30');
    expect(formatDateTime(Date.parse('2025-01-05T00:00:00+08:00'), 'zh', TZ)).toBe('1月5日00:00');
  });

  it('texts a sign-in code with its validity and a warning never to share it', () => {
    expect(renderText({ kind: 'otp', lang: 'zh', params: { code: '048213', minutes: 5 } }, TZ)).toBe(
      '【里厍社区快递柜】您的登录验证码 048213，5分钟内有效。请勿告诉他人，物业不会向您索要验证码。',
    );
    expect(renderText({ kind: 'otp', lang: 'en', params: { code: '048213', minutes: 5 } }, TZ)).toContain('Your sign-in code is 048213. It expires in 5 minutes.');
    expect(() => renderText({ kind: 'otp', lang: 'en', params: { minutes: 5 } }, TZ)).toThrow(TemplateError);
  });

  it('texts claims: the number, the promised hours, the outcome with its reason, and the duty alerts by stage', () => {
    expect(renderText({ kind: 'claim-opened', lang: 'zh', params }, TZ)).toBe(
      '【里厍社区快递柜】您的丢件申诉已登记，编号K00042。物业将在2小时内响应、48小时内给出处理结果。',
    );
    expect(renderText({ kind: 'claim-resolved', lang: 'zh', params }, TZ)).toBe(
      '【里厍社区快递柜】您的丢件申诉K00042已处理：申诉未获支持(监控显示本人已取件)。如有异议，7天内可重新申诉；欢迎为本次处理打分(1-5分)。',
    );
    expect(renderText({ kind: 'claim-resolved', lang: 'en', params: { ...params, outcome: 'found', reason: '' } }, TZ)).toContain('is resolved: the parcel was found. ');
    expect(renderText({ kind: 'claim-alert', lang: 'zh', params }, TZ)).toBe('【里厍社区快递柜】提醒：丢件申诉K00042将于11月29日18:00超过响应时限，请尽快处理。');
    expect(renderText({ kind: 'claim-alert', lang: 'zh', params: { ...params, clock: 'resolve', stage: 'breached' } }, TZ)).toBe(
      '【里厍社区快递柜】警报：丢件申诉K00042已于11月29日18:00超过处理时限，请立即处理。',
    );
    expect(() => renderText({ kind: 'claim-resolved', lang: 'zh', params: { ref: 'K1' } }, TZ)).toThrow(/outcome/);
  });
});
