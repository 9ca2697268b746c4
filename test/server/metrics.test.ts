// Prometheus text of ServerMetrics: exact lines for counters, the histogram's cumulative buckets, escaping.
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, ServerMetrics } from '../../src/server/metrics.js';

const gauges = { queueDepth: 2, running: 1, workers: 1, capacity: 3, modelLoaded: true };

describe('ServerMetrics', () => {
  it('renders counters with sorted, escaped labels', () => {
    const m = new ServerMetrics();
    m.requests.inc({ status: '200', route: '/v1/classify', method: 'POST' });
    m.requests.inc({ route: '/v1/classify', method: 'POST', status: '200' });
    m.requests.inc({ route: 'a"b\\c\nd', method: 'GET', status: '404' });
    const text = m.render(gauges);
    expect(text).toContain('stnet_http_requests_total{method="POST",route="/v1/classify",status="200"} 2\n');
    expect(text).toContain('stnet_http_requests_total{method="GET",route="a\\"b\\\\c\\nd",status="404"} 1\n');
    expect(text).toContain('# TYPE stnet_http_requests_total counter\n');
    expect(text).toMatch(/^stnet_queue_depth 2$/m);
    expect(text).toMatch(/^stnet_model_loaded 1$/m);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('histogram buckets are cumulative, with +Inf, _sum and _count', () => {
    const m = new ServerMetrics();
    for (const v of [0.01, 0.3, 0.3, 7, 500]) m.latency.observe({ route: '/x' }, v);
    const lines = m.render(gauges).split('\n').filter((l) => l.startsWith('stnet_http_request_duration_seconds'));
    const bucket = (le: string): number => Number(lines.find((l) => l.includes(`le="${le}"`))!.split(' ')[1]);
    expect(LATENCY_BUCKETS[0]).toBe(0.05);
    expect(bucket('0.05')).toBe(1);
    expect(bucket('0.25')).toBe(1);
    expect(bucket('0.5')).toBe(3);
    expect(bucket('5')).toBe(3);
    expect(bucket('10')).toBe(4);
    expect(bucket('120')).toBe(4);
    expect(bucket('+Inf')).toBe(5);
    expect(lines).toContain('stnet_http_request_duration_seconds_sum{route="/x"} 507.61');
    expect(lines).toContain('stnet_http_request_duration_seconds_count{route="/x"} 5');
  });
});
