/**
 * Listener compile: the STRICT / PERMISSIVE / plaintext filter-chain shapes (Istio's
 * tls_inspector + transport_protocol chains), the rejections of every other shape with a field
 * path, and the HCM's forward_client_cert_details / set_current_client_cert_details.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../xds/protos';
import type { ListenerModel } from '../model';
import { ROUTER_TYPE_URL, type CompileDeps } from './http-filter-compiler';
import { HCM_TYPE_URL } from './http-connection-manager';
import { compileListener } from './listener';
import { parseProtoJson } from './proto-json';
import { DOWNSTREAM_TLS_TYPE_URL } from './tls';
import type { ValidationResult } from '../../core/errors';

type Json = Record<string, unknown>;
const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
const TLS_INSPECTOR = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

const deps: CompileDeps = {
  filters: {
    compile: (_n, tc, p) => (tc['@type'] === ROUTER_TYPE_URL ? { ok: true, value: {} } : { ok: false, errors: [{ path: p, message: 'unknown filter' }] }),
    compilePerRoute: (_n, _tc, p) => ({ ok: false, errors: [{ path: p, message: 'none' }] }),
  },
  readFile: (p) => Buffer.from(`contents of ${p}`),
};

let root: protobuf.Root;
let dir: string;
before(() => {
  root = loadEnvoyProtos();
  dir = mkdtempSync(join(tmpdir(), 'remora-listener-compile-'));
  writeFileSync(join(dir, 'x'), 'x');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function hcm(extra: Json = {}): Json {
  return {
    '@type': HCM_TYPE_URL,
    stat_prefix: 'inbound',
    route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }] },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE_URL } }],
    ...extra,
  };
}

const TLS_SOCKET: Json = {
  name: 'envoy.transport_sockets.tls',
  typed_config: {
    '@type': DOWNSTREAM_TLS_TYPE_URL,
    common_tls_context: {
      tls_certificates: [{ certificate_chain: { filename: '/c.pem' }, private_key: { filename: '/k.pem' } }],
      validation_context: { trusted_ca: { filename: '/ca.pem' } },
    },
    require_client_certificate: true,
  },
};

function chain(transport: 'tls' | 'raw_buffer' | null, withTls: boolean, h: Json = hcm()): Json {
  const c: Json = { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: h }] };
  if (transport !== null) c['filter_chain_match'] = { transport_protocol: transport };
  if (withTls) c['transport_socket'] = TLS_SOCKET;
  return c;
}

function listener(chains: Json[], inspector = true): Json {
  const l: Json = { name: 'inbound', address: { socket_address: { address: '127.0.0.1', port_value: 15006 } }, filter_chains: chains };
  if (inspector) l['listener_filters'] = [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR } }];
  return l;
}

function compile(json: Json): ValidationResult<ListenerModel> {
  const p = parseProtoJson(root, LISTENER_TYPE, json, '');
  assert.ok(p.ok, JSON.stringify(!p.ok && p.errors));
  return compileListener(p.value, deps);
}

function errorsOf(r: ValidationResult<ListenerModel>): string[] {
  assert.equal(r.ok, false, 'expected a compile error');
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('listener compile: transport shapes', () => {
  it('plaintext: one chain, no TLS, plaintext allowed', () => {
    const r = compile(listener([chain(null, false)], false));
    assert.ok(r.ok);
    assert.equal(r.value.tls, null);
    assert.equal(r.value.plaintextAllowed, true);
  });

  it('STRICT: one TLS chain (with or without a matching transport_protocol) refuses plaintext', () => {
    for (const c of [chain(null, true), chain('tls', true)]) {
      const r = compile(listener([c]));
      assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
      assert.notEqual(r.value.tls, null);
      assert.equal(r.value.tls!.requireClientCertificate, true);
      assert.equal(r.value.plaintextAllowed, false);
    }
  });

  it('PERMISSIVE: tls_inspector + tls and raw_buffer chains with the same HCM, in either order', () => {
    for (const chains of [[chain('tls', true), chain('raw_buffer', false)], [chain('raw_buffer', false), chain('tls', true)]]) {
      const r = compile(listener(chains));
      assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
      assert.notEqual(r.value.tls, null);
      assert.equal(r.value.plaintextAllowed, true);
      assert.equal(r.value.hcm.statPrefix, 'inbound');
    }
  });

  it('rejects other shapes with field paths', () => {
    assert.deepEqual(errorsOf(compile(listener([chain('tls', true), chain('raw_buffer', false)], false))), [
      'listener_filters: matching on transport_protocol requires the envoy.filters.listener.tls_inspector listener filter',
    ]);
    assert.match(errorsOf(compile(listener([chain('tls', true), chain('tls', true)])))[0]!, /^filter_chains: two filter chains must match/);
    assert.match(errorsOf(compile(listener([chain(null, true), chain(null, false)])))[0]!, /^filter_chains: two filter chains must match/);
    assert.match(errorsOf(compile(listener([chain('tls', true), chain('raw_buffer', false), chain(null, false)])))[0]!, /^filter_chains: at most two/);
    assert.deepEqual(errorsOf(compile(listener([chain('tls', true), chain('raw_buffer', false, hcm({ stat_prefix: 'other' }))]))), [
      'filter_chains[1].filters: must be the same HTTP connection manager as filter_chains[0] (PERMISSIVE); different HCMs per transport are not supported by Remora',
    ]);
    assert.deepEqual(errorsOf(compile(listener([chain('tls', false)]))), [
      'filter_chains[0].transport_socket: a chain matching transport_protocol "tls" needs a TLS transport_socket',
    ]);
    assert.deepEqual(errorsOf(compile(listener([chain('tls', true), chain('raw_buffer', true)]))), [
      'filter_chains[1].transport_socket: a chain matching transport_protocol "raw_buffer" must not have a transport_socket',
    ]);
    const withPorts = chain('tls', true);
    (withPorts['filter_chain_match'] as Json)['destination_port'] = 8080;
    assert.deepEqual(errorsOf(compile(listener([withPorts]))), ['filter_chains[0].filter_chain_match.destination_port: field is not supported by Remora']);
  });
});

describe('HCM compile: x-forwarded-client-cert', () => {
  it('defaults to SANITIZE with no details', () => {
    const r = compile(listener([chain(null, false)], false));
    assert.ok(r.ok);
    assert.equal(r.value.hcm.forwardClientCertDetails, 'SANITIZE');
    assert.deepEqual(r.value.hcm.setCurrentClientCertDetails, { subject: false, cert: false, chain: false, dns: false, uri: false });
  });

  it("compiles Istio's SANITIZE_SET with subject + uri + dns", () => {
    const r = compile(listener([chain(null, true, hcm({
      forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { subject: true, uri: true, dns: true },
    }))]));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.equal(r.value.hcm.forwardClientCertDetails, 'SANITIZE_SET');
    assert.deepEqual(r.value.hcm.setCurrentClientCertDetails, { subject: true, cert: false, chain: false, dns: true, uri: true });
  });

  it('accepts every forward_client_cert_details mode', () => {
    for (const mode of ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY']) {
      const r = compile(listener([chain(null, false, hcm({ forward_client_cert_details: mode }))], false));
      assert.ok(r.ok);
      assert.equal(r.value.hcm.forwardClientCertDetails, mode);
    }
  });
});
