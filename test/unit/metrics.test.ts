import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/metrics.js';

describe('metrics (prom-client behind inc/get)', () => {
  it('counts by name and labels, declares known counters once with help and type', async () => {
    const c = new Counters();
    c.inc('lg_duplicates_total', { unit: 'A' });
    c.inc('lg_duplicates_total', { unit: 'A' }, 2);
    c.inc('lg_duplicates_total', { unit: 'B' });
    expect(c.get('lg_duplicates_total', { unit: 'A' })).toBe(3);
    expect(c.get('lg_duplicates_total', { unit: 'C' })).toBe(0);
    expect(c.total('lg_duplicates_total')).toBe(4);
    const text = await c.render();
    expect(text).toContain('# HELP lg_duplicates_total unit messages dropped as repeats');
    expect(text).toContain('# TYPE lg_duplicates_total counter');
    expect(text).toContain('lg_duplicates_total{unit="A"} 3');
    expect(text.match(/# TYPE lg_duplicates_total/g)).toHaveLength(1);
  });

  it('an unknown name still works; labels a metric was not declared with are dropped and counted', async () => {
    const c = new Counters();
    c.inc('lg_something_new_total', { kind: 'x' });
    c.inc('lg_something_new_total', { kind: 'x', extra: 'y' });
    expect(c.get('lg_something_new_total', { kind: 'x' })).toBe(2);
    expect(c.get('lg_metric_label_mismatch_total', { metric: 'lg_something_new_total' })).toBe(1);
    const text = await c.render();
    expect(text).toContain('# HELP lg_something_new_total (undocumented');
    expect(text).toContain('lg_something_new_total{kind="x"} 2');
  });

  it('gauges are collected at render; a failing source leaves its gauge empty, not the page', async () => {
    const c = new Counters();
    let online = 2;
    c.gauge('lg_test_online', 'test gauge', [], async () => [{ value: online }]);
    c.gauge('lg_test_broken', 'fails', [], async () => {
      throw new Error('redis down');
    });
    expect(await c.render()).toContain('lg_test_online 2');
    online = 3;
    const text = await c.render();
    expect(text).toContain('lg_test_online 3');
    expect(text).toContain('# TYPE lg_test_broken gauge');
  });
});
