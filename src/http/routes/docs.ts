import { html, raw } from 'hono/html';
import type { Hono } from 'hono';
import { exampleOf, type JsonSchema } from './docs-examples.js';
import { TAGS, TEXT, ZH_SUMMARY, type Lang } from './docs-text.js';

type Doc = {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Op>>;
  components?: { schemas?: Record<string, JsonSchema> };
};
type Media = { content?: Record<string, { schema?: JsonSchema }> };
type Op = {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, unknown>[];
  parameters?: { name: string; in: string; required?: boolean; schema?: JsonSchema }[];
  requestBody?: Media;
  responses?: Record<string, { description?: string } & Media>;
};

const CSS = `*{box-sizing:border-box}
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;max-width:60rem;margin:0 auto;padding:1rem;font-size:17px;line-height:1.5;color:#1b1b1b}
h1{font-size:1.5rem;margin:.5rem 0} h2{font-size:1.25rem;border-bottom:2px solid #ddd;padding-top:1rem}
.lang{float:right;font-size:.95rem} .op{border:1px solid #ccc;border-radius:6px;padding:.6rem .8rem;margin:.8rem 0}
.m{font-weight:700;display:inline-block;min-width:4.2rem} .get{color:#0a6b2d} .post{color:#1a4fa0} .put{color:#8a5a00} .delete{color:#a11}
code{overflow-wrap:anywhere} pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;font-size:14px;max-width:100%;white-space:pre}
.auth{color:#555;font-size:.9rem} summary{cursor:pointer;padding:.2rem 0} ul{padding-left:1.2rem}
@media (max-width:600px){body{font-size:16px;padding:.6rem} .m{min-width:auto;margin-right:.3rem} pre{font-size:13px} .lang{float:none;display:block;margin-bottom:.4rem}}`;

const pretty = (v: unknown) => JSON.stringify(v, null, 2);

/** zh when asked (?lang=zh) or when the browser prefers Chinese; en otherwise. */
function pickLang(query: string | undefined, accept: string | undefined): Lang {
  if (query === 'zh' || query === 'en') return query;
  return /^\s*zh/i.test(accept ?? '') ? 'zh' : 'en';
}

/**
 * A readable API reference rendered on the server from the same OpenAPI document (no scripts, no CDN): readable on
 * a phone, in Chinese or English, with example requests and responses made from the schemas.
 */
export function mountDocs(app: Hono, getDoc: () => Doc): void {
  app.get('/docs', (c) => {
    const lang = pickLang(c.req.query('lang'), c.req.header('accept-language'));
    const t = TEXT[lang];
    const doc = getDoc();
    const components = doc.components?.schemas ?? {};
    const byTag = new Map<string, { path: string; method: string; op: Op }[]>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const tag = op.tags?.[0] ?? 'other';
        byTag.set(tag, [...(byTag.get(tag) ?? []), { path, method, op }]);
      }
    }
    const summary = (method: string, path: string, op: Op) =>
      lang === 'zh' ? (ZH_SUMMARY[`${method.toUpperCase()} ${path}`] ?? op.summary ?? '') : (op.summary ?? '');
    return c.html(html`<!doctype html>
      <html lang="${lang === 'zh' ? 'zh-CN' : 'en'}">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>${doc.info.title} · ${t.title}</title>
          <style>${raw(CSS)}</style>
        </head>
        <body>
          <nav class="lang"><a href="/docs?lang=zh" hreflang="zh">中文</a> · <a href="/docs?lang=en" hreflang="en">English</a></nav>
          <h1>${doc.info.title} ${t.title} <small>${doc.info.version}</small></h1>
          <p>${t.intro} <a href="/openapi.json">/openapi.json</a>.</p>
          <p>${t.errors} <code>{"error":{"code","message","requestId"}}</code>. ${t.times} <code>2026-11-26T18:41:00.000+08:00</code>.</p>
          <ul>
            ${[...byTag.keys()].map((tag) => html`<li><a href="#${tag}">${TAGS[tag]?.[lang] ?? tag}</a></li>`)}
          </ul>
          ${[...byTag.entries()].map(
            ([tag, ops]) => html`<h2 id="${tag}">${TAGS[tag]?.[lang] ?? tag}</h2>
              ${ops.map(({ path, method, op }) => {
                const body = op.requestBody?.content?.['application/json']?.schema;
                const ok = Object.entries(op.responses ?? {}).find(([code]) => code.startsWith('2'));
                const okSchema = ok?.[1].content?.['application/json']?.schema;
                const bodyExample = body ? exampleOf(body, components) : undefined;
                const curlPath = path.replace(/\{(\w+)\}/g, (_m, name: string) => String(exampleOf(op.parameters?.find((p) => p.name === name)?.schema, components, name) ?? name));
                return html`<div class="op">
                  <div><span class="m ${method}">${method.toUpperCase()}</span> <code>${path}</code></div>
                  <div>${summary(method, path, op)}</div>
                  ${op.security?.length ? html`<div class="auth">${t.auth}: ${op.security.map((s) => Object.keys(s).join(', ')).join(` ${t.or} `)}</div>` : ''}
                  ${op.description && lang === 'en' ? html`<p>${op.description}</p>` : ''}
                  ${op.parameters?.length
                    ? html`<p>${t.parameters}: ${op.parameters.map((p) => html`<code>${p.name}</code> (${p.in}${p.required ? `, ${t.required}` : ''}) `)}</p>`
                    : ''}
                  ${bodyExample !== undefined
                    ? html`<details open><summary>${t.exampleRequest}</summary><pre>${`curl -X ${method.toUpperCase()} $GW${curlPath} -H 'content-type: application/json' \\\n  -d '${JSON.stringify(bodyExample)}'`}</pre><pre>${pretty(bodyExample)}</pre></details>`
                    : ''}
                  ${okSchema ? html`<details><summary>${t.exampleResponse} (${ok![0]})</summary><pre>${pretty(exampleOf(okSchema, components))}</pre></details>` : ''}
                  <p>${t.responses}: ${Object.entries(op.responses ?? {}).map(([code, r]) => html`<code>${code}</code> ${r.description ?? ''}; `)}</p>
                </div>`;
              })}`,
          )}
        </body>
      </html>`);
  });
}
