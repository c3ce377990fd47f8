/**
 * `envoy.filters.http.jwt_authn` end to end through a real sidecar, with real JWKS HTTP servers on
 * 127.0.0.1:0 and RSA keys made with jose. The provider/rule shape is what Istio generates for a
 * RequestAuthentication (`requires_any: [provider, allow_missing]`). Covers the issue's attack
 * matrix (each → 401 with `www-authenticate`), a valid token (200; the app sees the base64url
 * payload header and not the token), a missing token (allowed) vs a provider-only rule (401),
 * per-route `disabled`, a key rotation at the JWKS endpoint (new kid picked up by one forced
 * refresh, and unknown-kid refreshes rate-limited), and a JWKS outage (cached keys keep working).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { KeyObject } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import { HttpBackend, type BackendEcho } from './fakes/http-backend';
import { httpRequest, type HttpResponse } from './fakes/http-client';
import { SidecarHarness } from './fakes/sidecar-harness';
import { ROUTER_TYPE, routeTo, type ListenerSpec } from './fakes/bootstrap';
import { waitFor } from './fakes/wait';

const JWT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';
const ISSUER = 'https://issuer.test';
const AUD = 'svc-a';

/** A JWKS server whose key set the test can replace, or stop. Counts GETs per path. */
class JwksServer {
  readonly hits = new Map<string, number>();
  jwks: Record<string, unknown> = { keys: [] };
  private constructor(private readonly server: http.Server, readonly port: number) {}
  static async start(): Promise<JwksServer> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const s = new JwksServer(server, (server.address() as { port: number }).port);
    server.on('request', (req, res) => {
      s.hits.set(req.url ?? '', (s.hits.get(req.url ?? '') ?? 0) + 1);
      const body = JSON.stringify(s.jwks);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    return s;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  count(path: string): number {
    return this.hits.get(path) ?? 0;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Key {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
  readonly publicPem: string;
}

async function makeKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const publicPem = (publicKey as KeyObject).export({ type: 'spki', format: 'pem' }) as string;
  return { kid, privateKey: privateKey as KeyObject, jwk, publicPem };
}

const now = (): number => Math.floor(Date.now() / 1000);

function sign(key: Key, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: 'alice', aud: AUD, iat: now(), exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, ...header })
    .sign(key.privateKey);
}

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function provider(jwks: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuer: ISSUER, audiences: [AUD], forward_payload_header: 'x-jwt-payload', payload_in_metadata: ISSUER, ...jwks, ...extra };
}

function remote(uri: string, cacheDuration = '300s'): Record<string, unknown> {
  return { remote_jwks: { http_uri: { uri, cluster: 'outbound|80||jwks.test', timeout: '2s' }, cache_duration: cacheDuration } };
}

/** Istio's shape: one rule for `/` requiring the provider or allowing a missing token. */
function istioRules(name: string): Record<string, unknown>[] {
  return [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: name }, { allow_missing: {} }] } } }];
}

function jwtListener(name: string, config: Record<string, unknown>, routes?: Record<string, unknown>[]): ListenerSpec {
  return {
    name,
    routes: routes ?? [routeTo('app')],
    hcm: {
      http_filters: [
        { name: 'envoy.filters.http.jwt_authn', typed_config: { '@type': JWT_TYPE, ...config } },
        { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
      ],
    },
  };
}

describe('jwt_authn filter', { timeout: 60_000 }, () => {
  let app: HttpBackend;
  let jwks: JwksServer;
  let outageJwks: JwksServer;
  let sidecar: SidecarHarness;
  let k1: Key;
  let k2: Key;
  let attacker: Key;

  before(async () => {
    [k1, k2, attacker] = await Promise.all([makeKey('k1'), makeKey('k2'), makeKey('k1')]);
    app = await HttpBackend.start('app');
    jwks = await JwksServer.start();
    jwks.jwks = { keys: [k1.jwk] };
    outageJwks = await JwksServer.start();
    outageJwks.jwks = { keys: [k1.jwk] };
    const inline = { local_jwks: { inline_string: JSON.stringify({ keys: [k1.jwk] }) } };
    sidecar = await SidecarHarness.start({
      listeners: [
        jwtListener('local', { providers: { 'origins-0': provider(inline) }, rules: istioRules('origins-0') }),
        jwtListener('remote', { providers: { 'origins-0': provider(remote(jwks.url('/jwks'))) }, rules: istioRules('origins-0') }),
        jwtListener('required', { providers: { p: provider(inline, { forward: true }) }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] }, [
          routeTo('app', { prefix: '/public' }, {}, { typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE_TYPE, disabled: true } } }),
          routeTo('app'),
        ]),
        jwtListener('rotate', { providers: { r: provider(remote(jwks.url('/rotate'))) }, rules: istioRules('r') }),
        jwtListener('outage', { providers: { o: provider(remote(outageJwks.url('/jwks'), '0.001s')) }, rules: istioRules('o') }),
      ],
      clusters: [{ name: 'app', endpoints: [{ host: '127.0.0.1', port: app.port }] }],
    });
  });

  after(async () => {
    await sidecar?.close();
    await app?.close();
    await jwks?.close();
    await outageJwks?.close();
  });

  function get(listener: string, token: string | null, path = '/hello', headers: Record<string, string> = {}): Promise<HttpResponse> {
    const h: Record<string, string> = { ...headers };
    if (token !== null) h['authorization'] = `Bearer ${token}`;
    return httpRequest(sidecar.port(listener), { path, headers: h });
  }

  function assert401(res: HttpResponse, message: string, what: string): void {
    assert.equal(res.status, 401, `${what}: expected 401, got ${res.status} ${res.text()}`);
    assert.equal(res.text().trim(), message, what);
    assert.match(String(res.headers['www-authenticate']), /^Bearer /, what);
  }

  for (const listener of ['local', 'remote']) {
    it(`${listener}: a valid token reaches the app with the payload header and without the token`, async () => {
      const token = await sign(k1, { scope: 'read' });
      const before = app.requests;
      const res = await get(listener, token);
      assert.equal(res.status, 200, res.text());
      assert.equal(app.requests, before + 1);
      const seen = res.json() as BackendEcho;
      assert.equal(seen.headers['authorization'], undefined, 'token removed (forward: false)');
      const payload = JSON.parse(Buffer.from(String(seen.headers['x-jwt-payload']), 'base64url').toString('utf8')) as JWTPayload;
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.iss, ISSUER);
      assert.equal(payload['scope'], 'read');
    });

    it(`${listener}: a missing token is allowed (Istio semantics)`, async () => {
      const res = await get(listener, null);
      assert.equal(res.status, 200);
      assert.equal((res.json() as BackendEcho).headers['x-jwt-payload'], undefined);
    });

    it(`${listener}: the attack matrix → 401 each`, async () => {
      const valid = await sign(k1);
      const [h, p] = valid.split('.');
      const cases: [string, string, string][] = [
        ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`, 'Jwt header [alg] is not supported'],
        ['HS256 with the RSA public key as secret',
          await new SignJWT({ iss: ISSUER, sub: 'mallory', aud: AUD, exp: now() + 600 }).setProtectedHeader({ alg: 'HS256', kid: 'k1' })
            .sign(Buffer.from(k1.publicPem)), 'Jwt header [alg] is not supported'],
        ['expired', await sign(k1, { iat: now() - 7200, exp: now() - 3600 }), 'Jwt is expired'],
        ['nbf in the future', await sign(k1, { nbf: now() + 3600 }), 'Jwt not yet valid'],
        ['wrong iss', await sign(k1, { iss: 'https://evil.test' }), 'Jwt issuer is not configured'],
        ['wrong aud', await sign(k1, { aud: 'svc-b' }), 'Audiences in Jwt are not allowed'],
        ['unknown kid', await sign(k1, {}, { kid: 'no-such-kid' }), "Jwks doesn't have key to match kid or alg from Jwt"],
        ['signed by another key with the same kid', await sign(attacker), 'Jwt verification fails'],
        ['tampered payload', `${h}.${b64({ iss: ISSUER, sub: 'admin', aud: AUD, exp: now() + 600 })}.${valid.split('.')[2]}`, 'Jwt verification fails'],
        ['over 8 KiB', await sign(k1, { pad: 'x'.repeat(9000) }), 'Jwt is too large'],
        ['garbage', 'not-a-jwt', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
      ];
      const before = app.requests;
      for (const [what, token, message] of cases) assert401(await get(listener, token), message, `${listener}: ${what}`);
      assert.equal(app.requests, before, 'no rejected request reached the app');
      const m = await sidecar.metrics();
      assert.ok(m.sum('remora_jwt_authn_total', { listener, result: 'denied' }) >= cases.length);
      assert.ok(m.sum('remora_jwt_authn_total', { listener, result: 'allowed' }) >= 1);
      assert.ok(m.sum('remora_jwt_authn_total', { listener, result: 'missing' }) >= 1);
    });
  }

  it('a token in the access_token query parameter is verified too', async () => {
    assert.equal((await get('local', null, `/q?access_token=${await sign(k1)}`)).status, 200);
    assert401(await get('local', null, `/q?access_token=${await sign(k1, { aud: 'other' })}`), 'Audiences in Jwt are not allowed', 'query');
  });

  it('unknown-kid refreshes of the JWKS are rate limited', async () => {
    const token = await sign(k1, {}, { kid: 'another-unknown' });
    await get('remote', token); // may refresh once (or be within the interval of the matrix's refresh)
    const fetches = jwks.count('/jwks');
    for (let i = 0; i < 5; i++) assert.equal((await get('remote', token)).status, 401);
    assert.equal(jwks.count('/jwks'), fetches, 'no refetch within the 10 s interval');
  });

  it('a provider-only rule requires a token; per-route disabled skips the filter; forward keeps it', async () => {
    assert401(await get('required', null), 'Jwt is missing', 'required, missing');
    assert.equal((await get('required', null, '/public/x')).status, 200);
    const token = await sign(k1);
    const res = await get('required', token);
    assert.equal(res.status, 200);
    assert.equal((res.json() as BackendEcho).headers['authorization'], `Bearer ${token}`);
  });

  it('a key rotation at the JWKS endpoint (new kid) is picked up', async () => {
    jwks.jwks = { keys: [k1.jwk] };
    assert.equal((await get('rotate', await sign(k1))).status, 200);
    const fetches = jwks.count('/rotate');
    jwks.jwks = { keys: [k2.jwk] };
    const res = await get('rotate', await sign(k2));
    assert.equal(res.status, 200, res.text());
    assert.equal(jwks.count('/rotate'), fetches + 1, 'one forced refresh');
    // The retired key is gone from the set now.
    assert401(await get('rotate', await sign(k1)), "Jwks doesn't have key to match kid or alg from Jwt", 'retired key');
  });

  it('a JWKS outage keeps the cached keys working', async () => {
    assert.equal((await get('outage', await sign(k1))).status, 200);
    await outageJwks.close();
    for (let i = 0; i < 3; i++) assert.equal((await get('outage', await sign(k1))).status, 200);
    assert401(await get('outage', await sign(k1, { aud: 'nope' })), 'Audiences in Jwt are not allowed', 'outage still verifies');
    // The stale cache triggered background refreshes, which failed and were counted.
    await waitFor(async () => (await sidecar.metrics()).sum('remora_jwt_authn_jwks_fetch_total', { result: 'error' }) >= 1, { what: 'a failed JWKS fetch counted', timeoutMs: 5000 });
    assert.equal((await get('outage', await sign(k1))).status, 200);
  });
});
