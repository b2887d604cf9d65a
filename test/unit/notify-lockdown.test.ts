import { describe, expect, it } from 'vitest';
import { renderText } from '../../src/notify/templates.js';

const TZ = 'Asia/Shanghai';
const since = Date.parse('2025-11-27T02:10:00+08:00');
const unit = { scope: 'unit', unit: 'LSN-0001', siteZh: '里厍二村北区', siteEn: 'Lishe Ercun North', since };

/** The staff alert of a lockdown (src/bus/open-guard.ts): what happened, where, since when, and who may lift it. */
describe('lockdown notice texts', () => {
  it('tells staff of a burst at a unit, in Chinese and English', () => {
    expect(renderText({ kind: 'lockdown', lang: 'zh', params: { ...unit, cause: 'burst', count: 6 } }, TZ)).toBe(
      '【里厍社区快递柜】警报：里厍二村北区快递柜(LSN-0001)1分钟内被远程打开6个无包裹记录的格口，11月27日02:10起已自动锁定，只有管理员能开门，投件取件暂停。请立即核查，由管理员解除。',
    );
    expect(renderText({ kind: 'lockdown', lang: 'en', params: { ...unit, cause: 'burst', count: 6 } }, TZ)).toBe(
      '[Lishe Parcel Lockers] Alert: 6 doors opened remotely in one minute at the Lishe Ercun North locker (LSN-0001), none for a parcel: ' +
        'locked down since 27 Nov 02:10. Only admins can open; deposits and pickups wait till an admin lifts it.',
    );
  });

  it('names the fleet, and for a lockdown by hand who did it and why', () => {
    const fleet = { scope: 'fleet', since, cause: 'manual', by: '张主任', reason: '派出所要求' };
    expect(renderText({ kind: 'lockdown', lang: 'zh', params: fleet }, TZ)).toBe(
      '【里厍社区快递柜】通知：全部快递柜11月27日02:10起已由张主任紧急锁定(派出所要求)，只有管理员能开门，投件取件暂停。请核查后由管理员解除。',
    );
    expect(renderText({ kind: 'lockdown', lang: 'en', params: fleet }, TZ)).toBe(
      '[Lishe Parcel Lockers] Notice: every locker is locked down since 27 Nov 02:10 by 张主任 (派出所要求). Only admins can open; deposits and pickups wait till an admin lifts it.',
    );
  });

  it('stays within two SMS segments for a long reason', () => {
    const text = renderText({ kind: 'lockdown', lang: 'zh', params: { ...unit, cause: 'manual', by: '李四', reason: '监控显示有人撬柜' } }, TZ);
    expect(text.length).toBeLessThanOrEqual(140);
  });
});
