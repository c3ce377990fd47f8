/**
 * AuthorizationPolicy, Istio semantics, end to end:
 * - the decision table (issue 6: at least 30 cases): mesh YAML → loadMeshConfig → translateForNode →
 *   the inbound HCM's `envoy.filters.http.rbac` typed configs, through the wire (packAny → decode)
 *   → the sidecar's filter registry compile → the filter chain against synthetic requests (peer
 *   SPIFFE identity, remote address, headers, path, method, request principal set directly). A pure
 *   pipeline, no network: principals, namespaces, paths (exact, prefix, suffix, `*`, gRPC), methods,
 *   hosts, ports, headers, JWT principals and claims, IP blocks, DENY over ALLOW, the implicit deny,
 *   `spec: {}`, AUDIT not affecting the decision, selectors and the root namespace;
 * - validation errors with field paths;
 * - a real sidecar terminating mTLS whose RBAC filter (translated from a policy) lets the client
 *   certificate with the allowed SPIFFE ID through and answers the other one 403 `RBAC: access
 *   denied`, counted in `remora_rbac_denied_total`.
 */
import { readFileSync } from 'node:fs';
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { OutgoingHttpHeaders } from 'node:http';
import { stringify } from 'yaml';
import { createRuntime } from '../src/core/runtime';
import { decodeProtoBinary, packAny, type ProtoObject } from '../src/config/compile';
import { loadEnvoyProtos } from '../src/xds/protos';
import { TYPE_URL } from '../src/control-plane/cache/resources';
import { formatMeshIssue, loadMeshConfig, type MeshConfigIssue } from '../src/control-plane/mesh';
import { translateForNode } from '../src/control-plane/translate';
import { defaultExtensionRegistry } from '../src/filters/registry';
import { FilterStatus, type HttpFilter } from '../src/filters/filter';
import { StreamContext, type Downstream } from '../src/filters/stream-context';
import { SidecarMetrics } from '../src/observability/metrics';
import { parseSpiffeId, type PeerIdentity, type RequestPrincipal } from '../src/transport/peer-identity';
import { HttpBackend } from './fakes/http-backend';
import { TestPki } from './fakes/openssl-pki';
import { SidecarHarness } from './fakes/sidecar-harness';
import { routeTo } from './fakes/bootstrap';

const root = loadEnvoyProtos();
const RBAC_TYPE = 'envoy.extensions.filters.http.rbac.v3.RBAC';

const BASE = [
  { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'server', namespace: 'default' },
    spec: { hosts: ['server.default.svc'], ports: [{ number: 8080, name: 'http', protocol: 'HTTP' }], workloadSelector: { labels: { app: 'server' } } } },
  { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'server', namespace: 'default' },
    spec: { address: '10.0.0.5', labels: { app: 'server', version: 'v1' }, serviceAccount: 'server' } },
];
const SERVER_NODE = { id: 'server', cluster: '', metadata: { WORKLOAD_NAME: 'server', NAMESPACE: 'default', APP_PORTS: [8080] } };

type Doc = Record<string, unknown>;

/** An AuthorizationPolicy document. */
function ap(name: string, spec: unknown, namespace = 'default'): Doc {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec };
}

function yamlOf(docs: readonly Doc[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}

/** The inbound HCM's RBAC filters for the server workload, as (name, typed_config) from translation. */
function translatedRbacFilters(policies: readonly Doc[]): { name: string; typedConfig: ProtoObject }[] {
  const r = loadMeshConfig(new Map([['mesh.yaml', yamlOf([...BASE, ...policies])]]));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  const set = translateForNode(r.config, SERVER_NODE);
  const inbound = set.byType.get(TYPE_URL.LISTENER)!.get('inbound') as ProtoObject;
  assert.ok(inbound !== undefined, 'inbound listener');
  const chains = inbound['filter_chains'] as ProtoObject[];
  const hcm = ((chains[chains.length - 1]!['filters'] as ProtoObject[])[0]!['typed_config']) as ProtoObject;
  const filters = hcm['http_filters'] as { name: string; typed_config: ProtoObject }[];
  return filters.filter((f) => f.typed_config['@type'] === `type.googleapis.com/${RBAC_TYPE}`).map((f) => ({ name: f.name, typedConfig: f.typed_config }));
}

class FakeDownstream implements Downstream {
  readonly protocol = 'h2' as const;
  readonly body = null;
  readonly sink = new PassThrough();
  responseStarted = false;
  closed = false;
  bytesSent = 0;
  status = 0;
  respond(status: number): void {
    this.responseStarted = true;
    this.status = status;
  }
  write(): boolean { return true; }
  end(): void { this.closed = true; }
  reset(): void { this.closed = true; }
  headers: OutgoingHttpHeaders = {};
}

/** Compiles the translated filters as the sidecar would (through the wire form) into a filter chain. */
function chainFor(policies: readonly Doc[]): { filters: HttpFilter[]; names: string[] } {
  const registry = defaultExtensionRegistry();
  const runtime = createRuntime({ logLevel: 'silent' });
  const filters: HttpFilter[] = [];
  const names: string[] = [];
  for (const f of translatedRbacFilters(policies)) {
    const any = packAny(root, f.typedConfig['@type'] as string, f.typedConfig);
    const decoded = { '@type': any.type_url, ...decodeProtoBinary(root, RBAC_TYPE, any.value) };
    const compiled = registry.compile(f.name, decoded, f.name, (file) => readFileSync(file));
    if (!compiled.ok) assert.fail(JSON.stringify(compiled.errors));
    const reg = registry.get(any.type_url)!;
    filters.push(reg.createFactory(compiled.value, { runtime, listenerName: 'inbound', filterName: f.name })!.createFilter());
    names.push(f.name);
  }
  return { filters, names };
}

interface Req {
  readonly peer?: string;
  readonly remote?: string;
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  readonly headers?: Record<string, string>;
  readonly jwt?: { sub: string; claims?: Record<string, unknown>; aud?: string[] };
}

const ISSUER = 'https://issuer.example';

function peerOf(spiffeId: string): PeerIdentity {
  const p = parseSpiffeId(spiffeId);
  return {
    spiffeId, principal: spiffeId.slice('spiffe://'.length), trustDomain: p?.trustDomain ?? null, namespace: p?.namespace ?? null,
    serviceAccount: p?.serviceAccount ?? null, uriSans: [spiffeId], dnsSans: [], subject: '', certSha256: '',
  };
}

function principalOf(jwt: NonNullable<Req['jwt']>): RequestPrincipal {
  return { issuer: ISSUER, subject: jwt.sub, principal: `${ISSUER}/${jwt.sub}`, audiences: jwt.aud ?? [], claims: { iss: ISSUER, sub: jwt.sub, ...(jwt.claims ?? {}) } };
}

/** Runs `req` through the chain: true when every filter continues. */
function allowed(chain: { filters: HttpFilter[] }, req: Req): boolean {
  const runtime = createRuntime({ logLevel: 'silent' });
  const stats = new SidecarMetrics(runtime.metrics, false).forListener('inbound');
  const method = req.method ?? 'GET';
  const path = req.path ?? '/';
  const authority = req.authority ?? 'server.default.svc:8080';
  const headers = { ':method': method, ':path': path, ':authority': authority, ...(req.headers ?? {}) };
  const ds = new FakeDownstream();
  const ctx = new StreamContext(ds, stats, method, path, authority, 'http', headers, false, req.remote ?? '10.1.1.1', 0, 0);
  ctx.peer = req.peer === undefined ? null : peerOf(req.peer);
  ctx.requestPrincipal = req.jwt === undefined ? null : principalOf(req.jwt);
  for (const f of chain.filters) {
    if (f.onRequestHeaders(ctx) !== FilterStatus.Continue) {
      assert.equal(ds.status, 403);
      return false;
    }
  }
  return true;
}

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const OTHER = 'spiffe://cluster.local/ns/default/sa/other';
const FOREIGN = 'spiffe://cluster.local/ns/foreign/sa/client';
const allow = (rules: unknown[], extra: Doc = {}): Doc => ap('allow', { action: 'ALLOW', rules, ...extra });
const deny = (rules: unknown[]): Doc => ap('deny', { action: 'DENY', rules });
const from = (source: Doc): Doc => ({ from: [{ source }] });
const to = (operation: Doc): Doc => ({ to: [{ operation }] });
const when = (key: string, values: string[], notValues?: string[]): Doc => ({ when: [{ key, values, ...(notValues ? { notValues } : {}) }] });

interface Case { readonly name: string; readonly policies: readonly Doc[]; readonly req: Req; readonly allow: boolean }

const CASES: readonly Case[] = [
  // No policy: everything allowed.
  { name: 'no policy allows', policies: [], req: {}, allow: true },
  // principals
  { name: 'principal exact match', policies: [allow([from({ principals: ['cluster.local/ns/default/sa/client'] })])], req: { peer: CLIENT }, allow: true },
  { name: 'principal other identity', policies: [allow([from({ principals: ['cluster.local/ns/default/sa/client'] })])], req: { peer: OTHER }, allow: false },
  { name: 'principal plaintext caller', policies: [allow([from({ principals: ['cluster.local/ns/default/sa/client'] })])], req: {}, allow: false },
  { name: 'principal prefix wildcard', policies: [allow([from({ principals: ['cluster.local/ns/default/*'] })])], req: { peer: OTHER }, allow: true },
  { name: 'principal suffix wildcard', policies: [allow([from({ principals: ['*/sa/client'] })])], req: { peer: FOREIGN }, allow: true },
  { name: 'principal * needs mTLS', policies: [allow([from({ principals: ['*'] })])], req: {}, allow: false },
  { name: 'notPrincipals excludes', policies: [allow([from({ notPrincipals: ['cluster.local/ns/default/sa/client'] })])], req: { peer: CLIENT }, allow: false },
  { name: 'notPrincipals others pass', policies: [allow([from({ notPrincipals: ['cluster.local/ns/default/sa/client'] })])], req: { peer: OTHER }, allow: true },
  // namespaces
  { name: 'namespace match', policies: [allow([from({ namespaces: ['default'] })])], req: { peer: OTHER }, allow: true },
  { name: 'namespace mismatch', policies: [allow([from({ namespaces: ['default'] })])], req: { peer: FOREIGN }, allow: false },
  { name: 'notNamespaces', policies: [allow([from({ notNamespaces: ['foreign'] })])], req: { peer: FOREIGN }, allow: false },
  // paths
  { name: 'path exact (query ignored)', policies: [allow([to({ paths: ['/api/v1'] })])], req: { path: '/api/v1?x=1' }, allow: true },
  { name: 'path exact mismatch', policies: [allow([to({ paths: ['/api/v1'] })])], req: { path: '/api/v2' }, allow: false },
  { name: 'path prefix /x/*', policies: [allow([to({ paths: ['/api/*'] })])], req: { path: '/api/v2/users' }, allow: true },
  { name: 'path suffix */x', policies: [allow([to({ paths: ['*/healthz'] })])], req: { path: '/svc/healthz' }, allow: true },
  { name: 'path *', policies: [allow([to({ paths: ['*'] })])], req: { path: '/anything' }, allow: true },
  { name: 'gRPC method path', policies: [allow([to({ paths: ['/helloworld.Greeter/SayHello'] })])], req: { method: 'POST', path: '/helloworld.Greeter/SayHello' }, allow: true },
  { name: 'gRPC other method', policies: [allow([to({ paths: ['/helloworld.Greeter/SayHello'] })])], req: { method: 'POST', path: '/helloworld.Greeter/SayBye' }, allow: false },
  { name: 'gRPC service prefix', policies: [allow([to({ paths: ['/helloworld.Greeter/*'] })])], req: { method: 'POST', path: '/helloworld.Greeter/SayBye' }, allow: true },
  { name: 'notPaths', policies: [allow([to({ notPaths: ['/admin/*'] })])], req: { path: '/admin/x' }, allow: false },
  // methods
  { name: 'method match', policies: [allow([to({ methods: ['GET', 'HEAD'] })])], req: { method: 'HEAD' }, allow: true },
  { name: 'method mismatch', policies: [allow([to({ methods: ['GET'] })])], req: { method: 'POST' }, allow: false },
  { name: 'notMethods', policies: [allow([to({ notMethods: ['DELETE'] })])], req: { method: 'DELETE' }, allow: false },
  // hosts and ports
  { name: 'host ignores case and port', policies: [allow([to({ hosts: ['server.default.svc'] })])], req: { authority: 'Server.Default.SVC:8080' }, allow: true },
  { name: 'host mismatch', policies: [allow([to({ hosts: ['other.default.svc'] })])], req: {}, allow: false },
  { name: 'host suffix wildcard', policies: [allow([to({ hosts: ['*.default.svc'] })])], req: {}, allow: true },
  { name: 'port match', policies: [allow([to({ ports: ['8080'] })])], req: {}, allow: true },
  { name: 'port mismatch', policies: [allow([to({ ports: ['9090'] })])], req: {}, allow: false },
  // headers
  { name: 'header value', policies: [allow([when('request.headers[x-user]', ['alice'])])], req: { headers: { 'x-user': 'alice' } }, allow: true },
  { name: 'header other value', policies: [allow([when('request.headers[x-user]', ['alice'])])], req: { headers: { 'x-user': 'bob' } }, allow: false },
  { name: 'header one of comma values', policies: [allow([when('request.headers[X-User]', ['alice'])])], req: { headers: { 'x-user': 'bob,alice' } }, allow: true },
  { name: 'header missing', policies: [allow([when('request.headers[x-user]', ['*'])])], req: {}, allow: false },
  { name: 'header notValues', policies: [allow([when('request.headers[x-env]', ['*'], ['prod'])])], req: { headers: { 'x-env': 'prod' } }, allow: false },
  // JWT request principals and claims (ctx.requestPrincipal set directly)
  { name: 'requestPrincipals exact', policies: [allow([from({ requestPrincipals: [`${ISSUER}/alice`] })])], req: { jwt: { sub: 'alice' } }, allow: true },
  { name: 'requestPrincipals other subject', policies: [allow([from({ requestPrincipals: [`${ISSUER}/alice`] })])], req: { jwt: { sub: 'bob' } }, allow: false },
  { name: 'requestPrincipals * requires a JWT', policies: [allow([from({ requestPrincipals: ['*'] })])], req: {}, allow: false },
  { name: 'requestPrincipals * with JWT', policies: [allow([from({ requestPrincipals: ['*'] })])], req: { jwt: { sub: 'x' } }, allow: true },
  { name: 'claim in list', policies: [allow([when('request.auth.claims[groups]', ['admin'])])], req: { jwt: { sub: 'a', claims: { groups: ['dev', 'admin'] } } }, allow: true },
  { name: 'claim not in list', policies: [allow([when('request.auth.claims[groups]', ['admin'])])], req: { jwt: { sub: 'a', claims: { groups: ['dev'] } } }, allow: false },
  { name: 'nested claim', policies: [allow([when('request.auth.claims[org][team]', ['infra'])])], req: { jwt: { sub: 'a', claims: { org: { team: 'infra' } } } }, allow: true },
  { name: 'string claim prefix', policies: [allow([when('request.auth.claims[email]', ['*@example.com'])])], req: { jwt: { sub: 'a', claims: { email: 'a@example.com' } } }, allow: true },
  { name: 'audiences', policies: [allow([when('request.auth.audiences', ['api'])])], req: { jwt: { sub: 'a', aud: ['web', 'api'] } }, allow: true },
  { name: 'request.auth.principal condition', policies: [allow([when('request.auth.principal', [`${ISSUER}/*`])])], req: { jwt: { sub: 'z' } }, allow: true },
  // IP blocks
  { name: 'ipBlocks CIDR in', policies: [allow([from({ ipBlocks: ['10.0.0.0/8'] })])], req: { remote: '10.2.3.4' }, allow: true },
  { name: 'ipBlocks CIDR out', policies: [allow([from({ ipBlocks: ['10.0.0.0/8'] })])], req: { remote: '192.168.1.1' }, allow: false },
  { name: 'ipBlocks single address, mapped IPv6 peer', policies: [allow([from({ ipBlocks: ['127.0.0.1'] })])], req: { remote: '::ffff:127.0.0.1' }, allow: true },
  { name: 'notIpBlocks', policies: [allow([from({ notIpBlocks: ['10.9.0.0/16'] })])], req: { remote: '10.9.1.1' }, allow: false },
  { name: 'remoteIpBlocks', policies: [allow([from({ remoteIpBlocks: ['10.0.0.0/8'] })])], req: { remote: '10.0.0.9' }, allow: true },
  { name: 'source.ip condition', policies: [allow([when('source.ip', ['10.1.0.0/16'])])], req: { remote: '10.2.0.1' }, allow: false },
  // other conditions
  { name: 'source.principal condition', policies: [allow([when('source.principal', ['cluster.local/ns/default/sa/client'])])], req: { peer: CLIENT }, allow: true },
  { name: 'source.namespace condition', policies: [allow([when('source.namespace', ['foreign'])])], req: { peer: CLIENT }, allow: false },
  { name: 'destination.port condition', policies: [allow([when('destination.port', ['8080'])])], req: {}, allow: true },
  // rule structure
  { name: 'from AND to: principal ok, path not', policies: [allow([{ ...from({ principals: ['cluster.local/ns/default/sa/client'] }), ...to({ paths: ['/ok'] }) }])], req: { peer: CLIENT, path: '/no' }, allow: false },
  { name: 'from AND to: both ok', policies: [allow([{ ...from({ principals: ['cluster.local/ns/default/sa/client'] }), ...to({ paths: ['/ok'] }) }])], req: { peer: CLIENT, path: '/ok' }, allow: true },
  { name: 'rules are ORed', policies: [allow([to({ paths: ['/a'] }), to({ paths: ['/b'] })])], req: { path: '/b' }, allow: true },
  { name: 'from entries are ORed', policies: [allow([{ from: [{ source: { principals: ['x/ns/y/sa/z'] } }, { source: { namespaces: ['foreign'] } }] }])], req: { peer: FOREIGN }, allow: true },
  { name: 'fields in a source are ANDed', policies: [allow([from({ namespaces: ['default'], ipBlocks: ['10.0.0.0/8'] })])], req: { peer: CLIENT, remote: '192.168.0.1' }, allow: false },
  // DENY over ALLOW and the implicit deny
  { name: 'DENY over ALLOW (denied path)', policies: [allow([{}]), deny([to({ paths: ['/admin/*'] })])], req: { path: '/admin/users' }, allow: false },
  { name: 'DENY over ALLOW (other path)', policies: [allow([{}]), deny([to({ paths: ['/admin/*'] })])], req: { path: '/public' }, allow: true },
  { name: 'DENY alone denies only matches', policies: [deny([from({ namespaces: ['foreign'] })])], req: { peer: CLIENT }, allow: true },
  { name: 'DENY alone denies its match', policies: [deny([from({ namespaces: ['foreign'] })])], req: { peer: FOREIGN }, allow: false },
  { name: 'implicit deny: unmatched with an ALLOW policy', policies: [allow([to({ paths: ['/a'] })])], req: { path: '/b' }, allow: false },
  { name: 'ALLOW spec {} allows nothing', policies: [ap('nothing', {})], req: {}, allow: false },
  { name: 'ALLOW rules [{}] allows everything', policies: [allow([{}])], req: {}, allow: true },
  { name: 'DENY without rules denies nothing', policies: [ap('d', { action: 'DENY' })], req: {}, allow: true },
  { name: 'two ALLOW policies: either one', policies: [allow([to({ paths: ['/a'] })]), ap('allow2', { rules: [to({ paths: ['/b'] })] })], req: { path: '/b' }, allow: true },
  // AUDIT
  { name: 'AUDIT alone does not deny', policies: [ap('audit', { action: 'AUDIT', rules: [{}] })], req: {}, allow: true },
  { name: 'AUDIT does not rescue an implicit deny', policies: [ap('audit', { action: 'AUDIT', rules: [{}] }), allow([to({ paths: ['/a'] })])], req: { path: '/b' }, allow: false },
  // scope
  { name: 'selector not matching: ignored', policies: [allow([to({ paths: ['/a'] })], { selector: { matchLabels: { app: 'other' } } })], req: { path: '/b' }, allow: true },
  { name: 'selector matching: enforced', policies: [allow([to({ paths: ['/a'] })], { selector: { matchLabels: { app: 'server', version: 'v1' } } })], req: { path: '/b' }, allow: false },
  { name: 'other namespace: ignored', policies: [ap('x', { rules: [to({ paths: ['/a'] })] }, 'foreign')], req: { path: '/b' }, allow: true },
  { name: 'root namespace: mesh-wide', policies: [ap('x', { action: 'DENY', rules: [to({ paths: ['/b'] })] }, 'istio-system')], req: { path: '/b' }, allow: false },
];

describe('AuthorizationPolicy decision table (mesh YAML → translate → RBAC filter)', () => {
  it('has at least 30 cases', () => assert.ok(CASES.length >= 30, String(CASES.length)));
  for (const c of CASES) {
    it(c.name, () => {
      const chain = chainFor(c.policies);
      assert.equal(allowed(chain, c.req), c.allow);
    });
  }
});

test('translation: DENY before ALLOW, AUDIT as LOG first, Istio policy names and matchers', () => {
  const filters = translatedRbacFilters([
    allow([from({ namespaces: ['default'], principals: ['cluster.local/ns/a/sa/b'] })]),
    deny([to({ paths: ['/x'] })]),
    ap('audit', { action: 'AUDIT', rules: [{}] }),
  ]);
  assert.deepEqual(filters.map((f) => f.name), ['envoy.filters.http.rbac.audit', 'envoy.filters.http.rbac.deny', 'envoy.filters.http.rbac.allow']);
  const rules = (f: { typedConfig: ProtoObject }) => f.typedConfig['rules'] as { action: string; policies: Record<string, { principals: unknown[] }> };
  assert.deepEqual(filters.map((f) => rules(f).action), ['LOG', 'DENY', 'ALLOW']);
  const allowPolicies = rules(filters[2]!).policies;
  assert.deepEqual(Object.keys(allowPolicies), ['ns[default]-policy[allow]-rule[0]']);
  assert.deepEqual(allowPolicies['ns[default]-policy[allow]-rule[0]']!.principals, [{
    and_ids: { ids: [
      { or_ids: { ids: [{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/a/sa/b' } } }] } },
      { or_ids: { ids: [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }] } },
    ] },
  }]);
});

test('translation: a policy-free mesh has no RBAC filter', () => {
  assert.deepEqual(translatedRbacFilters([]), []);
});

function issuesOf(docs: readonly Doc[]): MeshConfigIssue[] {
  const r = loadMeshConfig(new Map([['mesh.yaml', yamlOf([...BASE, ...docs])]]));
  return r.ok ? [] : [...r.errors];
}

test('validation: every problem with its field path', () => {
  const errs = issuesOf([ap('bad', {
    action: 'CUSTOM',
    rules: [{
      from: [{ source: { ipBlocks: ['10.0.0.0/33', 'nope'], principals: ['a*b'] } }, { source: {} }],
      to: [{ operation: { ports: ['80', '70000'], paths: ['/x/{*}', 'relative'] } }],
      when: [
        { key: 'request.weird', values: ['x'] },
        { key: 'request.headers[x-a]' },
        { key: 'source.ip', values: ['1.2.3'] },
        { key: 'destination.port', values: ['http'] },
        { key: 'connection.sni', values: ['a'] },
      ],
      extra: true,
    }],
  })]);
  const paths = errs.map((e) => `${e.path}: ${e.message}`);
  const expect = [
    'spec.action', 'spec.rules[0].from[0].source.ipBlocks[0]', 'spec.rules[0].from[0].source.ipBlocks[1]',
    'spec.rules[0].from[0].source.principals[0]', 'spec.rules[0].from[1].source', 'spec.rules[0].to[0].operation.ports[1]',
    'spec.rules[0].to[0].operation.paths[0]', 'spec.rules[0].to[0].operation.paths[1]', 'spec.rules[0].when[0].key',
    'spec.rules[0].when[1]', 'spec.rules[0].when[2].values[0]', 'spec.rules[0].when[3].values[0]', 'spec.rules[0].when[4].key',
    'spec.rules[0].extra',
  ];
  for (const p of expect) assert.ok(errs.some((e) => e.path === p), `${p} in\n${paths.join('\n')}`);
  assert.ok(errs.every((e) => e.kind === 'AuthorizationPolicy' && e.name === 'bad'));
});

test('validation: unknown apiVersion for the kind, and v1beta1 accepted', () => {
  const bad = issuesOf([{ ...ap('x', {}), apiVersion: 'networking.istio.io/v1' }]);
  assert.ok(bad.some((e) => e.path === 'apiVersion'));
  assert.deepEqual(issuesOf([{ ...ap('x', {}), apiVersion: 'security.istio.io/v1beta1' }]), []);
});

describe('RBAC through a real sidecar terminating mTLS', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let backend: HttpBackend;
  let sidecar: SidecarHarness;
  let caPem: Buffer;
  let allowedClient: { cert: Buffer; key: Buffer };
  let deniedClient: { cert: Buffer; key: Buffer };

  before(async () => {
    pki = new TestPki();
    const ca = pki.createCa('mesh-ca');
    caPem = ca.cert;
    const server = pki.issue(ca, 'localhost', ['DNS:localhost', 'URI:spiffe://cluster.local/ns/default/sa/server']);
    allowedClient = pki.issue(ca, 'client', ['URI:spiffe://cluster.local/ns/default/sa/client']);
    deniedClient = pki.issue(ca, 'intruder', ['URI:spiffe://cluster.local/ns/default/sa/intruder']);
    writeFileSync(join(pki.dir, 'server.crt'), server.cert);
    writeFileSync(join(pki.dir, 'server.key'), server.key);
    backend = await HttpBackend.start('app');
    // The RBAC filter as translation emits it for this policy.
    const rbac = translatedRbacFilters([allow([{ ...from({ principals: ['cluster.local/ns/default/sa/client'] }), ...to({ methods: ['GET'] }) }])]);
    assert.equal(rbac.length, 1);
    sidecar = await SidecarHarness.start({
      listeners: [{
        name: 'inbound',
        routes: [routeTo('app')],
        tls: { certPath: join(pki.dir, 'server.crt'), keyPath: join(pki.dir, 'server.key'), caPath: ca.certPath, requireClientCertificate: true },
        hcm: {
          http_filters: [
            { name: rbac[0]!.name, typed_config: rbac[0]!.typedConfig },
            { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
          ],
        },
      }],
      clusters: [{ name: 'app', endpoints: [{ host: '127.0.0.1', port: backend.port }] }],
    });
  });

  after(async () => {
    await sidecar?.close();
    await backend?.close();
    pki?.cleanup();
  });

  function get(client: { cert: Buffer; key: Buffer }, method = 'GET'): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: sidecar.port('inbound'), path: '/hello', method, servername: 'localhost',
        ca: caPem, cert: client.cert, key: client.key, agent: false,
      }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('lets the allowed SPIFFE ID through', async () => {
    const before = backend.requests;
    const r = await get(allowedClient);
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.requests, before + 1);
  });

  it('answers another SPIFFE ID 403 RBAC: access denied and counts it', async () => {
    const before = backend.requests;
    const r = await get(deniedClient);
    assert.equal(r.status, 403);
    assert.equal(r.body.trim(), 'RBAC: access denied');
    assert.equal(backend.requests, before, 'the app never saw the denied request');
    const m = await sidecar.metrics();
    assert.ok(m.sum('remora_rbac_denied_total', { listener: 'inbound', action: 'allow' }) >= 1, m.text.split('\n').filter((l) => l.includes('rbac')).join('\n'));
  });

  it('denies the allowed identity for an operation outside the rule', async () => {
    const r = await get(allowedClient, 'DELETE');
    assert.equal(r.status, 403);
  });
});
