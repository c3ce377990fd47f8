/** Unit tests for the Prometheus counter reading of the mTLS bench. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffConnections, listenerConnections, sumSamples } from './prom';

const TEXT = `# HELP remora_downstream_connections_total Downstream connections accepted.
# TYPE remora_downstream_connections_total counter
remora_downstream_connections_total{listener="mtls_b_inbound"} 3
remora_downstream_connections_total{listener="other"} 40
remora_downstream_connections_rejected_total{listener="mtls_b_inbound",reason="tls_handshake"} 1
remora_downstream_connections_rejected_total{listener="mtls_b_inbound",reason="client_certificate"} 2
remora_downstream_connections_rejected_total{listener="other",reason="plaintext"} 9
remora_downstream_connections_total_extra{listener="mtls_b_inbound"} 100
remora_upstream_requests_total 7
remora_bad{listener="mtls_b_inbound"} NaNx
`;

test('sumSamples filters by exact name and by labels', () => {
  assert.equal(sumSamples(TEXT, 'remora_downstream_connections_total'), 43);
  assert.equal(sumSamples(TEXT, 'remora_downstream_connections_total', { listener: 'mtls_b_inbound' }), 3);
  assert.equal(sumSamples(TEXT, 'remora_downstream_connections_rejected_total', { listener: 'mtls_b_inbound', reason: 'client_certificate' }), 2);
  assert.equal(sumSamples(TEXT, 'remora_upstream_requests_total'), 7);
  assert.equal(sumSamples(TEXT, 'remora_missing'), 0);
  // Label values are unescaped before matching.
  assert.equal(sumSamples('m{a="y \\"q\\"",b="z"} 2\n', 'm', { a: 'y "q"' }), 2);
  assert.equal(sumSamples(TEXT, 'remora_bad'), 0);
});

test('listenerConnections and diffConnections', () => {
  const before = listenerConnections(TEXT, 'mtls_b_inbound');
  assert.deepEqual(before, { accepted: 3, rejected: 3 });
  const after = listenerConnections(TEXT.replace('"mtls_b_inbound"} 3', '"mtls_b_inbound"} 4'), 'mtls_b_inbound');
  assert.deepEqual(diffConnections(before, after), { accepted: 1, rejected: 0 });
});
