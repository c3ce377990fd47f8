/**
 * Unit tests of AuthorizationPolicy translation (Istio's value mapping: wildcards, principals,
 * namespaces, headers, hosts, claims, not-fields) and of the reader's key/CIDR helpers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrProblem, parseConditionKey, policySelects, type AuthorizationPolicy, type AuthorizationRule } from '../mesh/authorization-policy';
import { authorizationFilters, quoteRe2, rbacPolicies } from './authorization';

const EMPTY_SOURCE = {
  principals: [], notPrincipals: [], requestPrincipals: [], notRequestPrincipals: [], namespaces: [], notNamespaces: [],
  ipBlocks: [], notIpBlocks: [], remoteIpBlocks: [], notRemoteIpBlocks: [],
};
const EMPTY_OP = { hosts: [], notHosts: [], ports: [], notPorts: [], methods: [], notMethods: [], paths: [], notPaths: [] };

function policy(rules: AuthorizationRule[], action: AuthorizationPolicy['action'] = 'ALLOW', namespace = 'ns'): AuthorizationPolicy {
  return { meta: { kind: 'AuthorizationPolicy', name: 'p', namespace, file: 'f', index: 0 }, selector: null, action, rules };
}

test('principal wildcards follow Istio (spiffe:// prefix, suffix as regex)', () => {
  const out = rbacPolicies([policy([{ from: [{ ...EMPTY_SOURCE, principals: ['a/b', 'td/ns/x/*', '*/sa/y', '*'] }], to: [], when: [] }])]);
  const ids = (out['ns[ns]-policy[p]-rule[0]'] as { principals: unknown[] }).principals;
  assert.deepEqual(ids, [{ and_ids: { ids: [{ or_ids: { ids: [
    { authenticated: { principal_name: { exact: 'spiffe://a/b' } } },
    { authenticated: { principal_name: { prefix: 'spiffe://td/ns/x/' } } },
    { authenticated: { principal_name: { safe_regex: { regex: 'spiffe://.*/sa/y' } } } },
    { authenticated: { principal_name: { safe_regex: { regex: '.+' } } } },
  ] } }] } }]);
});

test('operation fields, not-fields and conditions', () => {
  const out = rbacPolicies([policy([{
    from: [],
    to: [{ ...EMPTY_OP, hosts: ['a.svc'], methods: ['GET'], notPaths: ['/admin/*'], ports: [80] }],
    when: [
      { key: 'request.headers[x-a]', kind: 'request.headers', args: ['x-a'], values: ['v.1'], notValues: [] },
      { key: 'request.auth.claims[a][b]', kind: 'request.auth.claims', args: ['a', 'b'], values: ['c'], notValues: [] },
      { key: 'destination.port', kind: 'destination.port', args: [], values: ['8080'], notValues: [] },
    ],
  }])]);
  const p = out['ns[ns]-policy[p]-rule[0]'] as { permissions: unknown[]; principals: unknown[] };
  assert.deepEqual(p.permissions, [{ and_rules: { rules: [
    { or_rules: { rules: [{ header: { name: ':authority', safe_regex_match: { regex: '(?i)a\\.svc(:[0-9]+)?' } } }] } },
    { or_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'GET' } } }] } },
    { not_rule: { or_rules: { rules: [{ url_path: { path: { prefix: '/admin/' } } }] } } },
    { or_rules: { rules: [{ destination_port: 80 }] } },
    { or_rules: { rules: [{ destination_port: 8080 }] } },
  ] } }]);
  assert.deepEqual(p.principals, [{ and_ids: { ids: [
    { or_ids: { ids: [{ header: { name: 'x-a', safe_regex_match: { regex: '^v\\.1$|^v\\.1,.*|.*,v\\.1,.*|.*,v\\.1$' } } }] } },
    { or_ids: { ids: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'a' }, { key: 'b' }], value: { list_match: { one_of: { string_match: { exact: 'c' } } } } } }] } },
  ] } }]);
});

test('empty rule is any/any; ALLOW without rules has no policies; filters ordered AUDIT, DENY, ALLOW', () => {
  assert.deepEqual(rbacPolicies([policy([{ from: [], to: [], when: [] }])]), { 'ns[ns]-policy[p]-rule[0]': { permissions: [{ any: true }], principals: [{ any: true }] } });
  const f = authorizationFilters([policy([], 'ALLOW'), policy([], 'DENY'), policy([], 'AUDIT')]);
  assert.deepEqual(f.map((x) => x['name']), ['envoy.filters.http.rbac.audit', 'envoy.filters.http.rbac.deny', 'envoy.filters.http.rbac.allow']);
  assert.deepEqual((f[2]!['typed_config'] as { rules: unknown }).rules, { action: 'ALLOW', policies: {} });
  assert.deepEqual(authorizationFilters([]), []);
});

test('policySelects: namespace, selector, root namespace', () => {
  const p = { ...policy([]), selector: { app: 'a' } };
  assert.ok(policySelects(p, 'ns', { app: 'a', v: '1' }));
  assert.ok(!policySelects(p, 'ns', { app: 'b' }));
  assert.ok(!policySelects(p, 'other', { app: 'a' }));
  assert.ok(policySelects(policy([], 'DENY', 'istio-system'), 'anywhere', {}));
});

test('condition keys and CIDRs', () => {
  assert.deepEqual(parseConditionKey('request.headers[X-Foo]'), { kind: 'request.headers', args: ['x-foo'] });
  assert.deepEqual(parseConditionKey('request.auth.claims[a][b.c]'), { kind: 'request.auth.claims', args: ['a', 'b.c'] });
  assert.equal(typeof parseConditionKey('request.auth.claims[]'), 'string');
  assert.equal(typeof parseConditionKey('connection.sni'), 'string');
  assert.equal(typeof parseConditionKey('source.ips'), 'string');
  assert.equal(cidrProblem('10.0.0.0/8'), null);
  assert.equal(cidrProblem('fd00::/8'), null);
  assert.notEqual(cidrProblem('10.0.0.0/33'), null);
  assert.notEqual(cidrProblem('10.0.0/8'), null);
  assert.equal(quoteRe2('a.b*c'), 'a\\.b\\*c');
});
