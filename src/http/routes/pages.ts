import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import type { CompartmentState, UnitState } from '../../domain/model.js';
import type { UnitStore } from '../../store/units.js';
import type { AppEnv } from '../app.js';

const STYLE = `
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;font-size:18px;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.6rem;margin:0 0 .3rem} h2{font-size:1.3rem;margin:0}
.unit{background:#fff;border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}
.meta{color:#444;margin:.3rem 0 .8rem}
.on{color:#0a6b2d;font-weight:700} .off{color:#a11;font-weight:700}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(5.2rem,1fr));gap:.4rem}
.c{border:2px solid #999;border-radius:6px;padding:.3rem;text-align:center;line-height:1.25}
.c b{font-size:1.2rem;display:block}
.empty{background:#fff} .occupied{background:#dbe9ff;border-color:#3c6fd1}
.open{background:#ffe7c2;border-color:#d98a00} .fault{background:#ffd6d6;border-color:#c22}
.oos{background:#e6e6e6;color:#666}
.legend span{display:inline-block;padding:.1rem .5rem;margin-right:.4rem;border:2px solid #999;border-radius:4px}
`;

function cls(c: CompartmentState): string {
  if (c.fault) return 'fault';
  if (c.outOfService) return 'oos';
  if (c.doorOpen) return 'open';
  return c.occupied ? 'occupied' : 'empty';
}

function label(c: CompartmentState): string {
  if (c.fault) return c.fault === 'jammed' ? '卡住 jammed' : '传感器 sensor';
  if (c.outOfService) return '停用 off';
  if (c.doorOpen) return '门开 open';
  return c.occupied ? '有件 full' : '空 empty';
}

const time = (ms: number | null) =>
  ms ? new Date(ms).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) : '—';

function unitCard(u: UnitState) {
  return html`<section class="unit" id="${u.id}">
    <h2>${u.siteName.zh} ${u.siteName.en} · <code>${u.id}</code></h2>
    <p class="meta">
      <span class="${u.online ? 'on' : 'off'}">${u.online ? '在线 online' : '离线 offline'}</span>
      ${u.outOfService ? html`<span class="off">· 停用 closed down</span>` : ''}
      since ${time(u.since)} · last seen ${time(u.lastSeen)} · ${u.dialect} · firmware ${u.firmware ?? '—'} · keypad ${u.keypad}
    </p>
    <div class="grid">
      ${u.compartments.map(
        (c) => html`<div class="c ${cls(c)}" title="${c.size}"><b>${c.no}</b>${c.size} · ${label(c)}</div>`,
      )}
    </div>
  </section>`;
}

/** Server-rendered live overview of every unit (refreshes itself every 5 s). */
export function pageRoutes(deps: { store: UnitStore }) {
  const app = new Hono<AppEnv>();
  app.get('/', async (c) => {
    const units = await deps.store.units();
    return c.html(html`<!doctype html>
      <html lang="zh-CN">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta http-equiv="refresh" content="5" />
          <title>里厍社区快递柜 · Locker units</title>
          <style>${raw(STYLE)}</style>
        </head>
        <body>
          <h1>里厍社区快递柜 Lishe parcel lockers</h1>
          <p class="legend">
            <span class="empty">空 empty</span><span class="occupied">有件 occupied</span><span class="open">门开 open</span
            ><span class="fault">故障 fault</span> · updated ${time(Date.now())} ·
            <a href="/v1/units">JSON</a> · <a href="/openapi.json">OpenAPI</a>
          </p>
          ${units.map(unitCard)}
        </body>
      </html>`);
  });
  return app;
}
