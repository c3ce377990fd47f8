import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Issues } from './context';
import { compileIstioStats, ISTIO_STATS_TYPE_URL } from './istio-stats';

describe('compileIstioStats', () => {
  it('defaults: enabled, host header fallback on', () => {
    const issues = new Issues();
    assert.deepEqual(compileIstioStats(issues, { '@type': ISTIO_STATS_TYPE_URL }, 'f[0].typed_config'), { enabled: true, disableHostHeaderFallback: false });
    assert.equal(issues.count, 0);
  });

  it('reads disable_host_header_fallback', () => {
    const issues = new Issues();
    assert.deepEqual(compileIstioStats(issues, { '@type': ISTIO_STATS_TYPE_URL, disable_host_header_fallback: true }, 'p'), { enabled: true, disableHostHeaderFallback: true });
  });

  it('rejects unknown fields with their path', () => {
    const issues = new Issues();
    assert.equal(compileIstioStats(issues, { '@type': ISTIO_STATS_TYPE_URL, metrics: [{}] }, 'hcm.http_filters[0].typed_config'), null);
    assert.deepEqual(issues.list, [{ path: 'hcm.http_filters[0].typed_config.metrics', message: 'field is not supported by Remora' }]);
  });
});
