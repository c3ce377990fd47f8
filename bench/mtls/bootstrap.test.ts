/**
 * Unit tests for the mTLS pair's bootstraps: certificates issued by the mesh CA carry the expected
 * SPIFFE IDs, and both generated bootstraps compile with the sidecar's own compiler into the TLS
 * model the issue asks for (STRICT client certificates on B, SAN pinning both ways, h2, TLS 1.3).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadBootstrap } from '../../src/config/compile/load-bootstrap';
import type { BootstrapModel } from '../../src/config/model';
import { defaultExtensionRegistry } from '../../src/filters/registry';
import { loadEnvoyProtos } from '../../src/xds/protos';
import { CLUSTER_A_TO_B, CLUSTER_B_TO_UPSTREAM, LISTENER_A, LISTENER_B, renderSidecarABootstrap, renderSidecarBBootstrap } from './bootstrap';
import { issueBenchCertificates, type BenchCertFiles } from './certs';

const SA_A = 'spiffe://cluster.local/ns/bench/sa/a';
const SA_B = 'spiffe://cluster.local/ns/bench/sa/b';

describe('mTLS bench certificates and bootstraps', () => {
  let dir = '';
  let certs: BenchCertFiles;
  const protos = loadEnvoyProtos();
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mtls-bench-test-'));
    certs = issueBenchCertificates(path.join(dir, 'certs'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const compile = (file: string, yaml: string): BootstrapModel => {
    fs.writeFileSync(path.join(dir, file), yaml);
    const r = loadBootstrap(path.join(dir, file), protos, defaultExtensionRegistry());
    if (!r.ok) assert.fail(`${file} rejected: ${JSON.stringify(r.errors)}`);
    return r.value;
  };

  it('the mesh CA issues sa/a and sa/b leaves signed by the written root', () => {
    assert.equal(certs.a.spiffeId, SA_A);
    assert.equal(certs.b.spiffeId, SA_B);
    const root = new crypto.X509Certificate(fs.readFileSync(certs.rootCaFile));
    assert.ok(root.ca);
    for (const w of [certs.a, certs.b]) {
      const leaf = new crypto.X509Certificate(fs.readFileSync(w.certFile));
      assert.equal(leaf.subjectAltName, `URI:${w.spiffeId}`);
      assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
      const key = crypto.createPrivateKey(fs.readFileSync(w.keyFile));
      assert.ok(leaf.checkPrivateKey(key), 'the key file matches the certificate');
      assert.equal(fs.statSync(w.keyFile).mode & 0o077, 0, 'key is not group/world readable');
    }
  });

  it('sidecar A: plaintext listener → h2 cluster to B with A\'s cert, root CA, B\'s SAN pinned, ALPN h2, TLS 1.3', () => {
    const yaml = renderSidecarABootstrap({ listenPort: 15001, sidecarBPort: 15002 }, certs);
    const doc = parse(yaml);
    assert.equal(doc.static_resources.listeners[0].filter_chains[0].transport_socket, undefined);
    const m = compile('a.yaml', yaml);
    assert.equal(m.listeners.length, 1);
    const l = m.listeners[0]!;
    assert.equal(l.name, LISTENER_A);
    assert.equal(l.tls, null, 'A accepts h2c from the client');
    const route = l.hcm.routeConfig!.virtualHosts[0]!.routes[0]!;
    assert.equal(route.action.type, 'route');
    const c = m.clusters[0]!;
    assert.equal(c.name, CLUSTER_A_TO_B);
    const tls = c.tls!;
    assert.notEqual(tls, null);
    assert.deepEqual(tls.certChain, fs.readFileSync(certs.a.certFile));
    assert.deepEqual(tls.privateKey, fs.readFileSync(certs.a.keyFile));
    assert.deepEqual(tls.trustedCa, fs.readFileSync(certs.rootCaFile));
    assert.deepEqual(tls.matchSubjectAltNames, [{ type: 'URI', matcher: { kind: 'exact', value: SA_B, ignoreCase: false } }]);
    assert.deepEqual(tls.alpnProtocols, ['h2']);
    assert.equal(tls.minVersion, 'TLSv1.3');
    assert.equal(tls.maxVersion, 'TLSv1.3');
    const ep = doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.deepEqual(ep, { address: '127.0.0.1', port_value: 15002 });
  });

  it('sidecar B: STRICT mTLS listener (client cert required, A\'s SAN pinned) → plaintext h2 upstream', () => {
    const yaml = renderSidecarBBootstrap({ listenPort: 15002, upstreamPort: 50051 }, certs);
    const m = compile('b.yaml', yaml);
    const l = m.listeners[0]!;
    assert.equal(l.name, LISTENER_B);
    const tls = l.tls!;
    assert.notEqual(tls, null);
    assert.equal(tls.requireClientCertificate, true);
    assert.deepEqual(tls.certChain, fs.readFileSync(certs.b.certFile));
    assert.deepEqual(tls.trustedCa, fs.readFileSync(certs.rootCaFile));
    assert.deepEqual(tls.matchSubjectAltNames, [{ type: 'URI', matcher: { kind: 'exact', value: SA_A, ignoreCase: false } }]);
    assert.deepEqual(tls.alpnProtocols, ['h2']);
    assert.equal(tls.minVersion, 'TLSv1.3');
    assert.equal(tls.maxVersion, 'TLSv1.3');
    const c = m.clusters[0]!;
    assert.equal(c.name, CLUSTER_B_TO_UPSTREAM);
    assert.equal(c.tls, null);
    const ep = parse(yaml).static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.deepEqual(ep, { address: '127.0.0.1', port_value: 50051 });
  });
});
