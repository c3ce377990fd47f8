import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type * as protobuf from 'protobufjs';
import { parseProtoJson, type ProtoObject } from '../../config/compile/proto-json';
import { loadEnvoyProtos } from '../../xds/protos';
import { compileJwtAuthn, compileJwtAuthnPerRoute, type JwtAuthnConfig } from './config';
import { KeySet } from './key-set';

const TYPE = 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
let root: protobuf.Root;
before(() => { root = loadEnvoyProtos(); });

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
const JWKS = JSON.stringify({ keys: [{ ...rsa, kid: 'r' }, { ...ec, kid: 'e' }] });

function parse(json: unknown): ProtoObject {
  const r = parseProtoJson(root, TYPE, json, 'f');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}
function compileOk(json: unknown): JwtAuthnConfig {
  const r = compileJwtAuthn(parse(json), 'f');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.value;
}
function errors(json: unknown): string[] {
  const r = compileJwtAuthn(parse(json), 'f');
  assert.equal(r.ok, false);
  return (r as { errors: readonly { path: string; message: string }[] }).errors.map((e) => `${e.path}: ${e.message}`);
}

describe('jwt_authn config', () => {
  it('compiles Istio\'s shape with Envoy defaults', () => {
    const c = compileOk({
      providers: { 'origins-0': { issuer: 'i', local_jwks: { inline_string: JWKS }, payload_in_metadata: 'i' } },
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
      bypass_cors_preflight: true,
    });
    const p = c.providers['origins-0']!;
    assert.deepEqual(p.fromHeaders, [{ name: 'authorization', valuePrefix: 'Bearer ' }]);
    assert.deepEqual(p.fromParams, ['access_token']);
    assert.equal(p.forward, false);
    assert.equal(p.clockSkewSeconds, 60);
    assert.deepEqual(c.rules[0]!.requires, { kind: 'any', requirements: [{ kind: 'provider', provider: 'origins-0', audiences: null }, { kind: 'allow_missing' }] });
    assert.ok(Object.isFrozen(c));
  });

  it('reads remote_jwks, headers, claims and requirement_map', () => {
    const c = compileOk({
      providers: { r: {
        issuer: 'i', audiences: ['a'], forward: true, clock_skew_seconds: 5, forward_payload_header: 'X-Payload',
        from_headers: [{ name: 'X-Jwt', value_prefix: 'Token ' }], claim_to_headers: [{ header_name: 'x-team', claim_name: 'org.team' }],
        remote_jwks: { http_uri: { uri: 'https://idp.test/jwks', cluster: 'c', timeout: '2s' }, cache_duration: '60s', async_fetch: { failed_refetch_duration: '3s' } },
      } },
      requirement_map: { strict: { provider_and_audiences: { provider_name: 'r', audiences: ['b'] } } },
      rules: [{ match: { path: '/Exact', case_sensitive: false }, requirement_name: 'strict' }],
    });
    const p = c.providers['r']!;
    assert.deepEqual(p.jwks, { kind: 'remote', uri: 'https://idp.test/jwks', timeoutMs: 2000, cacheDurationMs: 60_000, failedRefetchMs: 3000 });
    assert.deepEqual(p.fromHeaders, [{ name: 'x-jwt', valuePrefix: 'Token ' }]);
    assert.deepEqual(p.fromParams, []);
    assert.deepEqual(p.claimToHeaders, [{ header: 'x-team', claim: ['org', 'team'] }]);
    assert.equal(p.forwardPayloadHeader, 'x-payload');
    assert.equal(p.clockSkewSeconds, 5);
    assert.deepEqual(c.rules[0], { match: { kind: 'path', value: '/exact', caseSensitive: false }, requires: { kind: 'provider', provider: 'r', audiences: ['b'] } });
  });

  it('reports every problem with its path', () => {
    const errs = errors({
      providers: {
        a: { issuer: 'i' },
        b: { issuer: 'i', local_jwks: { inline_string: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' }, clock_skew_seconds: 3600 },
        c: { issuer: 'i', remote_jwks: { http_uri: { uri: 'file:///etc/passwd', cluster: 'c', timeout: '1s' } }, subjects: { exact: 'x' } },
      },
      rules: [
        { match: { prefix: '/' }, requires: { provider_name: 'nope' } },
        { match: { safe_regex: { regex: '.*' } }, requires: { requires_any: { requirements: [{ provider_name: 'a' }] } } },
      ],
    });
    const expect = [
      /^f\.providers\[a\]: exactly one of local_jwks or remote_jwks/,
      /^f\.providers\[b\]\.local_jwks\.inline_string: invalid JWKS: no usable asymmetric signing key .*symmetric/,
      /^f\.providers\[b\]\.clock_skew_seconds: must be an integer in 0\.\.300/,
      /^f\.providers\[c\]\.remote_jwks\.http_uri\.uri: must be an http/,
      /^f\.providers\[c\]\.subjects: field is not supported/,
      /^f\.rules\[0\]\.requires\.provider_name: unknown provider 'nope'/,
      /^f\.rules\[1\]\.match\.safe_regex: field is not supported/,
      /^f\.rules\[1\]\.requires\.requires_any\.requirements: needs at least 2/,
    ];
    for (const re of expect) assert.ok(errs.some((e) => re.test(e)), `${re} not in:\n${errs.join('\n')}`);
  });

  it('per-route config: disabled or requirement_name', () => {
    const d = compileJwtAuthnPerRoute({ disabled: true }, 'r');
    assert.ok(d.ok && d.value.disabled);
    const n = compileJwtAuthnPerRoute({ requirement_name: 'x' }, 'r');
    assert.ok(n.ok && n.value.requirementName === 'x');
    assert.equal(compileJwtAuthnPerRoute({}, 'r').ok, false);
  });
});

describe('KeySet', () => {
  it('keeps asymmetric signing keys with their algorithms and selects by kid/alg', () => {
    const r = KeySet.parse(JSON.stringify({ keys: [
      { ...rsa, kid: 'r' }, { ...ec, kid: 'e' }, { kty: 'oct', k: 'c2VjcmV0', kid: 'h' }, { ...rsa, kid: 'enc', use: 'enc' }, { ...rsa, kid: 'ps', alg: 'PS256' },
    ] }));
    assert.ok(r.ok);
    assert.equal(r.keys.size, 3);
    assert.equal(r.skipped.length, 2);
    assert.equal(r.keys.select('RS256', 'r').length, 1);
    assert.equal(r.keys.select('RS256', 'e').length, 0, 'kid of an EC key');
    assert.equal(r.keys.select('ES256', null).length, 1);
    assert.equal(r.keys.select('HS256', 'h').length, 0, 'never HMAC');
    assert.equal(r.keys.select('RS256', 'ps').length, 0, 'alg pinned by the JWK');
    assert.equal(r.keys.select('RS256', null).length, 1);
  });

  it('refuses text that is not a usable JWK set', () => {
    assert.equal(KeySet.parse('nope').ok, false);
    assert.equal(KeySet.parse('{"keys":[]}').ok, false);
    assert.equal(KeySet.parse('[1]').ok, false);
  });
});
