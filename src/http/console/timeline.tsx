import type { Actor, EvidenceEntry } from '../../evidence/entry.js';
import type { TimelineItem } from '../../evidence/timeline.js';
import { ALERT_LABELS, type AlertKind } from '../../alerts/types.js';
import { formatInZone, PARCEL_STATE_LABELS } from './format.js';

/** Who did it, as staff read it (a resident is already a masked phone in the evidence log). */
export function actorText(a: Actor | undefined): string {
  if (!a) return '';
  switch (a.type) {
    case 'unit':
      return `快递柜 unit ${a.id}`;
    case 'courier':
      return `快递员 courier ${a.id}`;
    case 'staff':
      return `员工 staff ${a.name ?? a.id}`;
    case 'resident':
      return `住户 resident ${a.phone}`;
    case 'system':
      return `系统 system (${a.id})`;
  }
}

const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** One line saying what an evidence entry records, Chinese first. */
export function describe(e: EvidenceEntry): string {
  const box = e.compartment !== undefined ? `${e.compartment}号格口 box ${e.compartment}` : '';
  switch (e.kind) {
    case 'door-opened':
      return `${box} 门开了 door opened`;
    case 'door-closed':
      return `${box} 门关了 door closed，${e.occupied ? '有物品 something inside' : '空 empty'}`;
    case 'parcel':
      return `包裹 parcel: ${PARCEL_STATE_LABELS[s(e.from)] ?? s(e.from)} → ${PARCEL_STATE_LABELS[s(e.to)] ?? s(e.to)} (${s(e.reason)})`;
    case 'command':
      return `指令 command ${s(e.op)} ${box}: ${s(e.state)}${e.result ? ` / ${s(e.result)}` : ''}`;
    case 'code-entered':
      return `键盘输入 code typed ${s(e.code)}`;
    case 'code-checked':
      return `取件码检查 code checked ${s(e.code)}: ${s(e.result)}`;
    case 'notice-queued':
      return `通知已排队 notice queued: ${s(e.noticeKind)} (${s(e.channel)})`;
    case 'notice':
      return `通知 notice ${s(e.noticeKind)} → ${s(e.to)}: ${e.result === 'sent' ? '已发送 sent' : `失败 failed ${s(e.detail)}`}`;
    case 'staff-open':
      return `员工开门 staff open ${box}: ${s(e.reason)}`;
    case 'staff':
      return `员工操作 staff action ${s(e.action)}`;
    case 'fault':
      return `${box} 故障 fault: ${s(e.fault)}`;
    case 'alarm':
      return `报警 alarm ${s(e.alarm)} ${box}`;
    case 'service':
      return `${box || '整柜 whole unit'} ${e.outOfService ? '停用 out of service' : '恢复使用 back in service'} ${s(e.reason)}`;
    case 'alert': {
      const label = ALERT_LABELS[e.alertKind as AlertKind];
      return `警报 alert: ${label ? `${label.zh} ${label.en}` : s(e.alertKind)}`;
    }
    case 'alert-ack':
      return `警报已确认 alert acknowledged`;
    case 'alert-clear':
      return `警报已解除 alert cleared: ${s(e.reason)}`;
    default:
      return e.kind;
  }
}

const ORIGIN: Record<TimelineItem['origin'], string> = { unit: '柜报告 reported', reconciled: '推断 inferred', gateway: '网关 gateway' };

export function Timeline({ items, tz }: { items: TimelineItem[]; tz: string }) {
  if (!items.length) return <p class="muted">没有记录 No entries.</p>;
  return (
    <ol class="timeline">
      {items.map((i) => (
        <li>
          <span class="when">{formatInZone(i.at, tz)}</span>
          <span class="origin">{ORIGIN[i.origin]}</span>
          <br />
          {describe(i.entry)}
          <br />
          <span class="muted wrap">
            {actorText(i.entry.actor)} · #{i.n}
          </span>
        </li>
      ))}
    </ol>
  );
}
