import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_STAFF_TOKEN, parseConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/runtime/logger.js';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.js';
import { TestRedis } from '../support/redis.js';

/** Pages and API for people: access log lines, /docs on a phone and in Chinese, times with the offset. */
describe('HTTP for people', () => {
  const redis = new TestRedis();
  const lines: Record<string, any>[] = [];
  let gw: RunningGateway;
  beforeAll(async () => {
    await redis.start();
    const config = parseConfig({ NODE_ENV: 'test', PORT: '0', MQTT_PORT: '0', REDIS_URL: redis.url, SIMULATORS: 'off', LOG_LEVEL: 'info' });
    const logger = createLogger('info', {}, { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
    gw = await startGateway(config, { logger });
  });
  afterAll(async () => {
    await gw?.close();
    await redis.destroy();
  });

  it('logs one access line per request, with its request id, status and duration (a phone in the path masked)', async () => {
    const res = await fetch(`${gw.url}/v1/units/LSN-0001`);
    const id = res.headers.get('x-request-id');
    const bad = await fetch(`${gw.url}/v1/admin/residents/13800138000/preferences`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(401);
    await fetch(`${gw.url}/healthz`); // probes: debug only
    const access = lines.filter((l) => l.msg === 'request' && l.component === 'http');
    expect(access).toHaveLength(2);
    expect(access[0]).toMatchObject({ level: 'info', requestId: id, method: 'GET', path: '/v1/units/LSN-0001', status: 200 });
    expect(typeof access[0]!.ms).toBe('number');
    expect(access[1]).toMatchObject({ method: 'PUT', path: '/v1/admin/residents/138****8000/preferences', status: 401 });
    expect(JSON.stringify(lines)).not.toContain('13800138000');
  });

  it('/docs is readable on a phone, in English and in Chinese, with example requests and responses', async () => {
    const en = await (await fetch(`${gw.url}/docs`)).text();
    expect(en).toContain('<meta name="viewport" content="width=device-width, initial-scale=1"');
    expect(en).toContain('@media (max-width:600px)');
    expect(en).toContain('<html lang="en">');
    expect(en).toContain('Example request');
    expect(en).toContain('&quot;trackingNumber&quot;: &quot;SF1234567890&quot;'); // the deposit request example
    expect(en).toContain('&quot;createdAt&quot;: &quot;2026-11-26T18:41:00.000+08:00&quot;'); // a response example

    const zh = await (await fetch(`${gw.url}/docs?lang=zh`)).text();
    expect(zh).toContain('<html lang="zh-CN">');
    expect(zh).toContain('投递包裹：预留最小的合适空格口并开门');
    expect(zh).toContain('请求示例');
    const byHeader = await (await fetch(`${gw.url}/docs`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' } })).text();
    expect(byHeader).toContain('<html lang="zh-CN">');
  });

  it('API times are ISO 8601 with the +08:00 offset', async () => {
    const staff = { authorization: `Bearer ${DEV_STAFF_TOKEN}`, 'content-type': 'application/json' };
    const issued = (await (await fetch(`${gw.url}/v1/admin/couriers`, { method: 'POST', headers: staff, body: '{"name":"王师傅","carrier":"SF"}' })).json()) as any;
    expect(issued.courier.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00$/);
    expect(Math.abs(Date.parse(issued.courier.createdAt) - Date.now())).toBeLessThan(60_000);
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as any;
    expect(doc.components.schemas.Parcel.properties.createdAt).toMatchObject({ type: 'string', format: 'date-time' });
  });
});
