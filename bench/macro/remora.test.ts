/** Unit tests for the generated sidecar bootstrap and CLI resolution. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { renderBootstrap, resolveRemoraCommand } from './remora';

test('bootstrap: listener → HCM → route / → STATIC h2 cluster upstream, admin on 127.0.0.1:0', () => {
  const b = parse(renderBootstrap(15001, 50051));
  assert.deepEqual(b.admin.address.socket_address, { address: '127.0.0.1', port_value: 0 });
  const l = b.static_resources.listeners[0];
  assert.equal(l.address.socket_address.port_value, 15001);
  const hcm = l.filter_chains[0].filters[0];
  assert.equal(hcm.name, 'envoy.filters.network.http_connection_manager');
  assert.equal(hcm.typed_config.codec_type, 'AUTO');
  const vh = hcm.typed_config.route_config.virtual_hosts[0];
  assert.deepEqual(vh.domains, ['*']);
  assert.deepEqual(vh.routes[0], { match: { prefix: '/' }, route: { cluster: 'upstream' } });
  assert.equal(hcm.typed_config.http_filters[0].name, 'envoy.filters.http.router');
  const c = b.static_resources.clusters[0];
  assert.equal(c.name, 'upstream');
  assert.equal(c.type, 'STATIC');
  const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.deepEqual(opts.explicit_http_config, { http2_protocol_options: {} });
  const ep = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(ep, { address: '127.0.0.1', port_value: 50051 });
});

test('resolveRemoraCommand explains what is missing and accepts a tsc outDir', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bench-cmd-test-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  assert.match(resolveRemoraCommand(tmp, null, tmp) as string, /src\/cli\/main\.ts does not exist/);
  fs.mkdirSync(path.join(tmp, 'src', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'src', 'cli', 'main.ts'), '');
  assert.match(resolveRemoraCommand(tmp, null, tmp) as string, /npm run build/);
  assert.match(resolveRemoraCommand(tmp, path.join(tmp, 'nope'), tmp) as string, /does not exist/);
  const out = path.join(tmp, 'out');
  fs.mkdirSync(path.join(out, 'src', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(out, 'src', 'cli', 'main.js'), '');
  const cmd = resolveRemoraCommand(tmp, out, tmp);
  assert.equal(typeof cmd, 'object');
  if (typeof cmd === 'object') assert.deepEqual(cmd.scriptArgs, [path.join(out, 'src', 'cli', 'main.js')]);
});
