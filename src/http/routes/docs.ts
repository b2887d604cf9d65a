import { html, raw } from 'hono/html';
import type { Hono } from 'hono';

type Doc = {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Op>>;
};
type Op = {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, unknown>[];
  parameters?: { name: string; in: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
};

const CSS = `body{font-family:system-ui,"PingFang SC",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;font-size:17px;color:#1b1b1b}
h2{border-bottom:2px solid #ddd;padding-top:1rem} .op{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}
.m{font-weight:700;display:inline-block;min-width:4.5rem} .get{color:#0a6b2d} .post{color:#1a4fa0} .put{color:#8a5a00} .delete{color:#a11}
pre{background:#f4f4f4;padding:.5rem;overflow:auto;font-size:14px} .auth{color:#666;font-size:.9rem}`;

/** A readable API reference rendered on the server from the same OpenAPI document (no scripts, no CDN). */
export function mountDocs(app: Hono, getDoc: () => Doc): void {
  app.get('/docs', (c) => {
    const doc = getDoc();
    const byTag = new Map<string, { path: string; method: string; op: Op }[]>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const tag = op.tags?.[0] ?? 'other';
        byTag.set(tag, [...(byTag.get(tag) ?? []), { path, method, op }]);
      }
    }
    return c.html(html`<!doctype html>
      <html lang="en">
        <head><meta charset="utf-8" /><title>${doc.info.title} API</title><style>${raw(CSS)}</style></head>
        <body>
          <h1>${doc.info.title} API ${doc.info.version}</h1>
          <p>${doc.info.description ?? ''} Machine-readable: <a href="/openapi.json">/openapi.json</a>.
            Errors always look like <code>{"error":{"code","message","requestId"}}</code>.</p>
          ${[...byTag.entries()].map(
            ([tag, ops]) => html`<h2>${tag}</h2>
              ${ops.map(({ path, method, op }) => {
                const body = op.requestBody?.content?.['application/json']?.schema;
                return html`<div class="op">
                  <div><span class="m ${method}">${method.toUpperCase()}</span> <code>${path}</code> — ${op.summary ?? ''}</div>
                  ${op.security?.length ? html`<div class="auth">auth: ${op.security.map((s) => Object.keys(s).join(', ')).join(' or ')}</div>` : ''}
                  ${op.description ? html`<p>${op.description}</p>` : ''}
                  ${op.parameters?.length
                    ? html`<p>Parameters: ${op.parameters.map((p) => html`<code>${p.name}</code> (${p.in}${p.required ? ', required' : ''}) `)}</p>`
                    : ''}
                  ${body ? html`<details><summary>Request body</summary><pre>${JSON.stringify(body, null, 2)}</pre></details>` : ''}
                  <p>Responses: ${Object.entries(op.responses ?? {}).map(([code, r]) => html`<code>${code}</code> ${r.description ?? ''}; `)}</p>
                </div>`;
              })}`,
          )}
        </body>
      </html>`);
  });
}
