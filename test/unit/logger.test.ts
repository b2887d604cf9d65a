import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/runtime/logger.js';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: Record<string, any>[] = [];
  const logger = createLogger(level, {}, { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { logger, lines };
}

describe('logger (pino behind the Logger interface)', () => {
  it('writes one JSON line per record with level, ISO time, message and fields; drops levels below its own', () => {
    const { logger, lines } = capture('info');
    logger.debug('not shown');
    logger.info('hello', { unit: 'LSN-0001' });
    logger.child({ component: 'http' }).warn('child line', { status: 500 });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello', unit: 'LSN-0001' });
    expect(lines[0]!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(lines[1]).toMatchObject({ level: 'warn', msg: 'child line', component: 'http', status: 500 });
  });

  it('masks phones, codes and tokens wherever they are, without changing the caller’s objects', () => {
    const { logger, lines } = capture();
    const fields = {
      phone: '13800138000',
      code: '482913',
      token: 'lgc_secret',
      headers: { authorization: 'Bearer abc' },
      deep: { resident: { phone: '+8613912345678', presenceCode: '7657', staffToken: 'xyz' }, list: [{ code: '111111' }] },
      errCode: { code: 'wrong_code' },
    };
    const copy = structuredClone(fields);
    logger.info('masking', fields);
    logger.child({ phone: '13700001111' }).info('binding');
    const [a, b] = lines;
    expect(a).toMatchObject({
      phone: '138****8000',
      code: '[redacted]',
      token: '[redacted]',
      headers: { authorization: '[redacted]' },
      deep: { resident: { phone: '139****5678', presenceCode: '[redacted]', staffToken: '[redacted]' }, list: [{ code: '[redacted]' }] },
      errCode: { code: 'wrong_code' }, // an error code is not a secret
    });
    expect(JSON.stringify(a)).not.toMatch(/13800138000|482913|lgc_secret|7657|111111/);
    expect(b).toMatchObject({ phone: '137****1111', msg: 'binding' });
    expect(fields).toEqual(copy);
  });

  it('logs errors with their name and message, wherever they are', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    logger.error('failed', { err, nested: { cause: new TypeError('bad') } });
    expect(lines[0]).toMatchObject({ err: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }, nested: { cause: { type: 'TypeError', message: 'bad' } } });
  });
});
