/**
 * The console's only stylesheet and only script, served from this site (/console/static/…): no host of another
 * party is ever asked for anything (a blocked font host must not stall a page in mainland China). Phone first
 * (390 px), large plain text, colours that say the same in words (every cell also has its label).
 */
export const CONSOLE_CSS = `
:root{--fg:#1a1a1a;--muted:#474747;--bg:#f5f5f2;--card:#fff;--line:#c4c4bd;--link:#0b4f94;--head:#1d3557}
*{box-sizing:border-box}
html{font-size:18px;-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;line-height:1.5;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-9999px}.skip:focus{left:.5rem;top:.5rem;background:#fff;padding:.4rem;z-index:9}
header.top{background:var(--head);color:#fff;padding:.5rem .8rem}
header.top .who{display:flex;flex-wrap:wrap;gap:.3rem .8rem;align-items:center;justify-content:space-between}
header.top .brand{font-weight:700;font-size:1.05rem}
header.top form{margin:0}
header.top button{font-size:.9rem;padding:.3rem .6rem;min-height:2.2rem}
nav{display:flex;flex-wrap:wrap;gap:.3rem;align-items:flex-start;margin:.5rem 0 0}
nav ul{display:flex;flex-wrap:wrap;gap:.3rem;list-style:none;margin:0;padding:0}
nav details.more[open]{flex-basis:100%}
nav details.more ul{margin-top:.35rem}
nav summary{padding:.35rem .5rem;border-radius:6px;color:#fff;background:#2f5283;font-size:.9rem;min-height:2.4rem;line-height:1.7rem;cursor:pointer;width:max-content}
nav summary[aria-current=page]{outline:2px solid #fff;font-weight:700}
nav a{display:block;padding:.35rem .5rem;border-radius:6px;color:#fff;background:#2f5283;text-decoration:none;font-size:.9rem;min-height:2.4rem;line-height:1.7rem}
nav a[aria-current=page]{background:#fff;color:var(--head);font-weight:700}
nav .badge{display:inline-block;min-width:1.4rem;padding:0 .3rem;margin-left:.25rem;border-radius:1rem;background:#b00020;color:#fff;text-align:center;font-weight:700}
.live{font-size:.85rem}
main{padding:.8rem;max-width:66rem;margin:0 auto}
h1{font-size:1.5rem;margin:.4rem 0 .6rem}h2{font-size:1.25rem;margin:1.2rem 0 .4rem}h3{font-size:1.1rem;margin:.8rem 0 .3rem}
p{margin:.4rem 0}
.muted{color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7rem .8rem;margin:.6rem 0}
.list{list-style:none;margin:0;padding:0}
.row{display:flex;flex-wrap:wrap;gap:.3rem .9rem;align-items:baseline}
.wrap,code{overflow-wrap:anywhere;word-break:break-word}
.flash{border-left:6px solid #1b7a3a;background:#e6f4ea;padding:.5rem .7rem;margin:.6rem 0}
.error{border-left:6px solid #b00020;background:#fde8eb;padding:.5rem .7rem;margin:.6rem 0}
.alerts-banner{border-left:6px solid #b00020;background:#fde8eb;padding:.5rem .7rem;margin:.6rem 0}
.on{color:#0f6b32;font-weight:700}.off{color:#a3001b;font-weight:700}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:.4rem 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}
form.inline{display:inline}
fieldset{border:1px solid var(--line);border-radius:6px;margin:.8rem 0;padding:.2rem .7rem .5rem}legend{font-weight:600;padding:0 .3rem}label.choice{font-weight:400;margin:.3rem 0}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input,select,textarea,button{font:inherit;font-size:1rem}
input[type=text],input[type=search],input[type=password],select,textarea{width:100%;max-width:32rem;padding:.45rem .5rem;border:1px solid #8a8a84;border-radius:6px;background:#fff;color:var(--fg)}
button,.button{display:inline-block;padding:.45rem .9rem;min-height:2.6rem;border-radius:6px;border:1px solid #163e6e;background:#1d4f8c;color:#fff;cursor:pointer;text-decoration:none}
button.secondary{background:#fff;color:#163e6e}
button.danger{background:#a3001b;border-color:#7a0014}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:.6rem 0}
.sizes{display:flex;flex-wrap:wrap;gap:.4rem;margin:.3rem 0 .6rem;padding:0;list-style:none}
.sizes li{border:1px solid var(--line);border-radius:6px;padding:.1rem .5rem;background:#fff}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(4.1rem,1fr));gap:.35rem;list-style:none;margin:.3rem 0;padding:0}
.cell{display:block;border:2px solid;border-radius:6px;padding:.2rem .1rem;text-align:center;line-height:1.25;font-size:.8rem;color:var(--fg);text-decoration:none;min-height:3.3rem}
.cell b{display:block;font-size:1.15rem}
.st-free{background:#fff;border-color:#7a7a7a}
.st-reserved{background:#ece6fb;border-color:#5b3fb0}
.st-occupied{background:#dce9fb;border-color:#1f5fbf}
.st-door-open{background:#ffe1a8;border-color:#a85d00}
.st-overdue{background:#f9e0f0;border-color:#9c1f73}
.st-fault{background:#ffd6d6;border-color:#b00020}
.st-out-of-service{background:#e4e4e4;border-color:#4d4d4d;border-style:dashed}
.legend{display:flex;flex-wrap:wrap;gap:.3rem;list-style:none;margin:.3rem 0;padding:0;font-size:.85rem}
.legend li{border:2px solid;border-radius:5px;padding:0 .4rem}
ol.timeline{list-style:none;margin:0;padding:0;border-left:3px solid var(--line)}
ol.timeline li{margin:0 0 .6rem;padding:0 0 0 .7rem}
ol.timeline .when{font-weight:700}
.origin{font-size:.8rem;border:1px solid var(--line);border-radius:4px;padding:0 .3rem;margin-left:.3rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}
.chart{display:block;width:100%;max-width:40rem;height:auto}
figure{margin:.6rem 0}figcaption{font-weight:600}
.table-wrap{overflow-x:auto}
caption{text-align:left;font-weight:700;padding:.3rem 0}
.chart text{font-size:12px;fill:#1a1a1a}.chart .bar-cur{fill:#1d4f8c}.chart .bar-prev{fill:#b9c6d8}.chart .axis{stroke:#474747}.chart .grid-line{stroke:#d9d9d2}
.figures{font-size:.85rem}.figures th,.figures td{padding:.3rem .25rem}.figures th[scope=row]{overflow-wrap:anywhere;font-weight:600}
.key{display:flex;flex-wrap:wrap;gap:.2rem .9rem;list-style:none;margin:.2rem 0;padding:0;font-size:.9rem}
.key span{display:inline-block;width:.9rem;height:.9rem;margin-right:.3rem;vertical-align:-.1rem;border:1px solid #474747}
.key .cur{background:#1d4f8c}.key .prev{background:#b9c6d8}
.up{color:#0f6b32}.down{color:#a3001b}
.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:0 .6rem}
.clock{margin-right:.6rem}.clock-ok{color:#0f6b32}.clock-near{color:#8a4b00;font-weight:700}.clock-breached{color:#a3001b;font-weight:700}
@media (min-width:48rem){main{padding:1.2rem}.cols{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.grid{grid-template-columns:repeat(auto-fill,minmax(4.6rem,1fr))}}
`;

/**
 * Live updates: the page names its live regions (`data-live="unit:LSN-0001 units"`, each with an id); the server
 * sends the topics of every change over server-sent events; when one matches, the page is fetched again (same URL,
 * same session) and those regions are swapped for their new versions. No framework, no state of its own. A region
 * holding the field being typed in is left alone. After a lost connection everything live is fetched again.
 */
export const LIVE_JS = `(() => {
  'use strict';
  const root = document.documentElement;
  const status = document.getElementById('live-status');
  const regions = () => Array.from(document.querySelectorAll('[data-live]'));
  if (!window.EventSource || !regions().length) return;
  let pending = new Set(), timer = null, busy = false, lost = false;
  const say = (zh, en, state) => { root.dataset.live = state; if (status) status.textContent = zh + ' ' + en; };
  const es = new EventSource('/console/events');
  es.addEventListener('open', () => { say('实时', 'Live', 'open'); if (lost) { lost = false; queue(['*']); } });
  es.addEventListener('error', () => { lost = true; say('重新连接中', 'Reconnecting', 'lost'); });
  es.addEventListener('change', (e) => { try { queue(JSON.parse(e.data).topics || []); } catch (_) { /* ignore */ } });
  es.addEventListener('bye', () => { es.close(); location.reload(); });
  function queue(topics) { for (const t of topics) pending.add(t); if (!timer) timer = setTimeout(refresh, 250); }
  async function refresh() {
    timer = null;
    if (busy) { timer = setTimeout(refresh, 250); return; }
    const topics = pending; pending = new Set();
    const hit = regions().filter((el) => topics.has('*') || el.dataset.live.split(' ').some((t) => topics.has(t)));
    if (!hit.length) return;
    busy = true;
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { 'x-console-live': '1' } });
      if (!res.ok || new URL(res.url).pathname !== location.pathname) { location.reload(); return; }
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const active = document.activeElement;
      for (const el of hit) {
        if (active && el.contains(active) && active.matches('input,textarea,select')) continue;
        const fresh = el.id && doc.getElementById(el.id);
        if (fresh) el.replaceWith(document.importNode(fresh, true));
      }
      root.dataset.liveUpdated = String(Number(root.dataset.liveUpdated || 0) + 1);
    } catch (_) { /* next change tries again */ } finally { busy = false; }
  }
})();
`;
