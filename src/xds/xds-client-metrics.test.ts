import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { XdsClientMetrics } from './xds-client-metrics';

describe('XdsClientMetrics', () => {
  it('keeps one config_info series per type, counts ACKs and NACKs and stamps the last NACK', async () => {
    const registry = new Registry();
    const m = new XdsClientMetrics(registry);
    m.version('cds', 'v1');
    m.ack('cds');
    m.version('lds', 'v1');
    m.version('cds', 'v2');
    m.ack('cds');
    m.nack('lds', 1_700_000_000_500);
    const text = await registry.metrics();
    assert.match(text, /^remora_xds_config_info\{type="cds",version="v2"\} 1$/m);
    assert.doesNotMatch(text, /remora_xds_config_info\{type="cds",version="v1"\}/);
    assert.match(text, /^remora_xds_config_info\{type="lds",version="v1"\} 1$/m);
    assert.match(text, /^remora_xds_acks_total\{type="cds"\} 2$/m);
    assert.match(text, /^remora_xds_nacks_total\{type="lds"\} 1$/m);
    assert.match(text, /^remora_xds_nacks_total\{type="cds"\} 0$/m);
    assert.match(text, /^remora_xds_last_nack_timestamp_seconds\{type="lds"\} 1700000000\.5$/m);
    m.clear();
    assert.doesNotMatch(await registry.metrics(), /^remora_xds_config_info\{/m);
  });

  it('shares the families of a registry between clients', async () => {
    const registry = new Registry();
    new XdsClientMetrics(registry).ack('eds');
    new XdsClientMetrics(registry).ack('eds');
    assert.match(await registry.metrics(), /^remora_xds_acks_total\{type="eds"\} 2$/m);
  });
});
