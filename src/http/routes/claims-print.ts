import { html, raw } from 'hono/html';
import type { ClaimExport } from '../../claims/export.js';
import type { ClockView } from '../../domain/claim-clocks.js';
import type { ClaimAction, ClaimState, OutcomeKind } from '../../domain/claims.js';
import { localParts } from '../../notify/localtime.js';

/**
 * A claim's record on paper: A4, Chinese with English, from the same export as the JSON (claims/export.ts), so the
 * paper and the file say the same thing. Every evidence line carries its chain and position and the start of its
 * hash, to be checked against the chains later. Server-rendered, no scripts; the staff console can reuse it.
 */
const STATE: Record<ClaimState, string> = {
  open: '待响应 Open',
  acknowledged: '已受理 Acknowledged',
  investigating: '调查中 Investigating',
  waiting_resident: '待居民答复 Waiting for the resident',
  resolved: '已处理 Resolved',
  closed: '已结案 Closed',
};
const ACTION: Record<ClaimAction, string> = {
  open: '提出申诉 Opened',
  acknowledge: '受理 Acknowledged',
  investigate: '调查 Investigating',
  ask: '询问居民 Asked the resident',
  answer: '居民答复 Resident answered',
  resolve: '处理完毕 Resolved',
  close: '结案 Closed',
  reopen: '重新申诉 Reopened',
  rate: '评分 Rated',
  note: '备注 Note',
};
const OUTCOME: Record<OutcomeKind, string> = {
  found: '包裹已找到 Found',
  wrong_person: '被他人取走 Handed to the wrong person',
  compensated: '已赔偿 Compensated',
  rejected: '不予支持 Rejected',
  other: '其他 Other',
};
const CHANNEL: Record<string, string> = { app: '居民自助 Resident (signed in)', phone: '电话 Phone call', visit: '来访 Visit', other: '其他 Other' };

const CSS = `@page{size:A4;margin:14mm 12mm}
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;font-size:10.5pt;color:#000;margin:0}
h1{font-size:16pt;margin:0 0 2mm} h2{font-size:12pt;margin:5mm 0 2mm;border-bottom:1px solid #000;page-break-after:avoid}
table{width:100%;border-collapse:collapse;page-break-inside:auto} tr{page-break-inside:avoid}
th,td{border:1px solid #777;padding:1mm 1.5mm;text-align:left;vertical-align:top}
th{background:#eee;font-weight:600;white-space:nowrap} .kv th{width:32%} .small{font-size:8.5pt} .t{white-space:nowrap}
.mono{font-family:ui-monospace,monospace;font-size:7.5pt;word-break:break-all}
.sign{margin-top:10mm;display:flex;gap:20mm} .sign div{flex:1;border-top:1px solid #000;padding-top:1mm}
@media screen{body{max-width:190mm;margin:8mm auto}}`;

const pad = (n: number) => String(n).padStart(2, '0');
function at(ms: number | null, tz: string): string {
  if (ms === null) return '—';
  const p = localParts(ms, tz);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}
/** `1 h 05 min`: a clock's time as people say it */
const hours = (ms: number) => `${Math.floor(ms / 3600_000)} h ${pad(Math.floor((ms % 3600_000) / 60_000))} min`;
function who(a: Record<string, unknown> | undefined): string {
  if (!a) return '—';
  if (a.type === 'staff') return `员工 Staff ${String(a.name ?? a.id)}`;
  if (a.type === 'resident') return `居民 Resident ${String(a.phone ?? '')}`;
  if (a.type === 'unit') return `柜机 Unit ${String(a.id)}`;
  return `系统 System ${String(a.id ?? '')}`;
}
function clockLine(c: ClockView, tz: string): string {
  const verdict = c.stoppedAt !== null ? (c.met ? '按时 In time' : '超时 Late') : c.stage === 'breached' ? '已超时 Past the limit' : c.paused ? '暂停 Paused' : '计时中 Running';
  return `${verdict} · ${hours(c.elapsedMs)} / ${hours(c.limitMs)} · ${c.stoppedAt !== null ? `停止 stopped ${at(c.stoppedAt, tz)}` : `到期 due ${at(c.dueAt, tz)}`}`;
}
/** One line of a timeline entry: its details without what the columns already say. */
function details(e: Record<string, unknown>): string {
  const { at: _a, kind: _k, actor: _ac, unit: _u, parcel: _p, claim: _c, ref: _r, ...rest } = e;
  const s = JSON.stringify(rest);
  return s.length > 160 ? `${s.slice(0, 159)}…` : s;
}

export function claimPage(x: ClaimExport) {
  const tz = x.timeZone;
  const c = x.claim;
  const kv = (rows: [string, unknown][]) =>
    html`<table class="kv">
      ${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${v ?? '—'}</td></tr>`)}
    </table>`;
  return html`<!doctype html>
    <html lang="zh-CN">
      <head>
        <meta charset="utf-8" />
        <title>丢件申诉 ${c.ref} Lost-parcel claim</title>
        <style>${raw(CSS)}</style>
      </head>
      <body>
        <h1>里厍社区快递柜 丢件申诉记录 · Lost-parcel claim record</h1>
        <p class="small">编号 No. <b>${c.ref}</b> (${c.id}) · 生成 Generated ${at(x.generatedAt, tz)} (${tz}) · ${who(x.generatedBy as Record<string, unknown>)}</p>
        <h2>申诉 Claim</h2>
        ${kv([
          ['状态 State', STATE[c.state]],
          ['渠道 Channel', CHANNEL[c.channel] ?? c.channel],
          ['居民 Resident', c.phone],
          ['提出 Opened', `${at(c.openedAt, tz)} · ${who(c.openedBy as Record<string, unknown>)}`],
          ['情况说明 Description', c.description],
          ['包裹 Parcel', [c.subject.parcelId, c.subject.carrier, c.subject.trackingNumber].filter(Boolean).join(' · ') || '—'],
          ['柜机格口 Unit, box', c.subject.unit ? `${c.subject.unit} · ${c.subject.compartment}号 box` : '未知 unknown to the gateway'],
          ['处理结果 Outcome', c.outcome ? `${OUTCOME[c.outcome.kind]}${c.outcome.reason ? ` — ${c.outcome.reason}` : ''}` : '—'],
          ['评分 Rating', c.rating ? `${c.rating.score}/5${c.rating.comment ? ` — ${c.rating.comment}` : ''}` : '—'],
          ['重新申诉 Reopened', String(c.reopened)],
        ])}
        <h2>时限 Clocks (第 ${x.clocks.round + 1} 轮 round)</h2>
        ${kv([
          ['响应 Acknowledge', clockLine(x.clocks.ack, tz)],
          ['处理 Resolve', clockLine(x.clocks.resolve, tz)],
        ])}
        <h2>处理记录 History</h2>
        <table>
          <tr><th>时间 Time</th><th>人员 Who</th><th>操作 Action</th><th>状态 State</th><th>说明 Note</th></tr>
          ${x.log.map(
            (e) => html`<tr>
              <td class="t">${at(e.at, tz)}</td><td>${who(e.by as Record<string, unknown>)}</td><td>${ACTION[e.action]}</td>
              <td>${e.from === e.to ? STATE[e.to] : `${e.from ? STATE[e.from] : '—'} → ${STATE[e.to]}`}</td>
              <td>${e.outcome ? `${OUTCOME[e.outcome.kind]}. ` : ''}${e.rating ? `${e.rating.score}/5. ` : ''}${e.note ?? ''}</td>
            </tr>`,
          )}
        </table>
        ${x.parcel
          ? html`<h2>包裹 Parcel</h2>
              ${kv([
                ['编号 Id', x.parcel.id],
                ['地点 Place', `${x.parcel.site ? `${x.parcel.site.zh} ${x.parcel.site.en}` : x.parcel.unit} · ${x.parcel.compartment}号 box`],
                ['快递 Carrier, tracking', `${x.parcel.carrier} ${x.parcel.trackingNumber}`],
                ['收件人 Recipient', `尾号 phone ending ${x.parcel.phoneTail}`],
                ['状态 State', `${x.parcel.state}${x.parcel.reason ? ` (${x.parcel.reason})` : ''}`],
                ['存入 Stored', at(x.parcel.storedAt, tz)],
                ['期限 Deadline', at(x.parcel.deadline, tz)],
                ['结束 Ended', at(x.parcel.endedAt, tz)],
              ])}
              <h2>包裹证据时间线 Parcel evidence timeline (${x.timeline?.chain})</h2>
              <table class="small">
                <tr><th>#</th><th>时间 Time</th><th>事件 Event</th><th>来源 Origin</th><th>详情 Details</th><th>哈希 Hash</th></tr>
                ${(x.timeline?.items ?? []).map(
                  (t) => html`<tr><td>${t.n}</td><td class="t">${at(t.at, tz)}</td><td>${t.kind}</td><td>${t.origin}</td><td class="mono">${details(t.entry)}</td><td class="mono">${t.hash.slice(0, 12)}</td></tr>`,
                )}
              </table>`
          : ''}
        <h2>申诉证据 Claim evidence (${x.evidence.chain})</h2>
        <table class="small">
          <tr><th>#</th><th>时间 Time</th><th>事件 Event</th><th>人员 Who</th><th>详情 Details</th><th>哈希 Hash</th></tr>
          ${x.evidence.items.map(
            (t) =>
              html`<tr><td>${t.n}</td><td class="t">${at(t.entry.at, tz)}</td><td>${t.entry.kind}</td><td>${who(t.entry.actor as Record<string, unknown>)}</td><td class="mono">${details(t.entry)}</td><td class="mono">${t.hash.slice(0, 12)}</td></tr>`,
          )}
        </table>
        <p class="small">
          每条证据以链上序号(#)和哈希前12位标明，可用 GET /v1/admin/evidence/verify 核对。 Each evidence line names its position (#) in its
          chain and the first 12 characters of its hash; check them against the chains with GET /v1/admin/evidence/verify.
        </p>
        <div class="sign"><div>经办人 Handled by</div><div>居民 Resident</div><div>日期 Date</div></div>
      </body>
    </html>`;
}
