import { existsSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { formatMeshIssue, loadMeshConfig, parseDurationMs } from './index';
import { acceptedMesh as ok, expectMeshIssue as expectIssue, rejectedMesh as errors } from '../../../test/fakes/mesh-config-support';

/** The repository root (the folder holding package.json), from source or from dist/. */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}


const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: demo}
spec:
  hosts: [greeter.demo.svc]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  workloadSelector: {labels: {app: greeter}}
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: demo}
spec:
  host: greeter.demo.svc
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`;

function vs(http: string, hosts = '[greeter.demo.svc]'): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: demo}
spec:
  hosts: ${hosts}
  http:
${http}`;
}


test('the example mesh validates, with namespaces, indexes and a deep-frozen result', () => {
  const file = path.join(repoRoot(), 'examples/mesh.yaml');
  const r = loadMeshConfig(new Map([[file, readFileSync(file, 'utf8')]]));
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  const m = r.config;
  assert.equal(m.serviceEntries.length, 1);
  assert.equal(m.workloadEntries.length, 2);
  assert.equal(m.serviceByHost.get('greeter.demo.svc')?.meta.namespace, 'demo');
  const v = m.virtualServiceByHost.get('greeter.demo.svc')!;
  assert.deepEqual(v.http[1]!.route.map((d) => [d.subset, d.weight]), [['v1', 90], ['v2', 10]]);
  assert.ok(Object.isFrozen(m) && Object.isFrozen(v.http[0]!.match[0]!.headers));
  assert.throws(() => (m.serviceByHost as Map<string, unknown>).set('x', 1), /immutable/);
});

test('namespace defaults to "default"; all apiVersion aliases are accepted', () => {
  const m = ok(
    SE.replace('namespace: demo', 'namespace: default').replace('networking.istio.io/v1', 'networking.istio.io/v1beta1'),
    `apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {name: w}\nspec: {address: 10.0.0.1, labels: {app: greeter}}\n`,
  );
  assert.equal(m.workloadEntries[0]!.meta.namespace, 'default');
});

test('malformed YAML is reported with file, document index and line:col', () => {
  const r = loadMeshConfig(new Map([['bad.yaml', `${SE}---\nkind: [unclosed\n`]]));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const i = r.errors.find((e) => /malformed YAML/.test(e.message))!;
  assert.ok(i, r.errors.map(formatMeshIssue).join('\n'));
  assert.equal(i.file, 'bad.yaml');
  assert.equal(i.index, 1);
  assert.equal(typeof i.line, 'number');
  assert.ok(i.line! >= 10, `line ${i.line}`);
  assert.match(formatMeshIssue(i), /^bad\.yaml:\d+:\d+: document \(document 1\)/);
});

test('unknown kind and unknown apiVersion', () => {
  const issues = errors(
    'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n',
    SE.replace('networking.istio.io/v1', 'networking.istio.io/v2'),
  );
  const k = expectIssue(issues, 'kind', /unknown kind 'Gateway'/);
  assert.equal(k.index, 0);
  assert.equal(k.kind, 'Gateway');
  assert.equal(k.name, 'g');
  assert.equal(k.line, 2);
  const a = expectIssue(issues, 'apiVersion', /unknown apiVersion 'networking.istio.io\/v2' for ServiceEntry/);
  assert.equal(a.index, 1);
});

test('unknown fields are rejected at their path with their line', () => {
  const issues = errors(SE.replace('  hosts:', '  hostz: [x]\n  hosts:').replace('protocol: GRPC', 'protocol: GRPC, appProtocol: h2'));
  const i = expectIssue(issues, 'spec.hostz', /unknown field 'hostz'/);
  assert.equal(i.line, 5);
  assert.equal(i.col, 3);
  assert.equal(i.kind, 'ServiceEntry');
  assert.equal(i.name, 'greeter');
  expectIssue(issues, 'spec.ports[0].appProtocol', /unknown field/);
});

test('mirror is rejected as not supported yet (retries, fault and corsPolicy are supported)', () => {
  const issues = errors(SE, DR, vs(`  - route: [{destination: {host: greeter.demo.svc}}]
    retries: {attempts: 3}
    fault: {abort: {httpStatus: 500, percentage: {value: 1}}}
    mirror: {host: greeter.demo.svc}
    corsPolicy: {allowOrigins: [{exact: x}]}
`));
  for (const f of ['mirror']) expectIssue(issues, `spec.http[0].${f}`, /not supported yet/);
  assert.ok(!issues.some((i) => i.path.includes('retries') || i.path.includes('fault')), JSON.stringify(issues));
});

test('dangling references: destination host, VirtualService host, DestinationRule host', () => {
  const issues = errors(SE, vs('  - route: [{destination: {host: nope.demo.svc}}]\n', '[greeter.demo.svc, other.demo.svc]'),
    DR.replace('host: greeter.demo.svc', 'host: ghost.demo.svc'));
  expectIssue(issues, 'spec.http[0].route[0].destination.host', /no ServiceEntry declares host 'nope.demo.svc'/);
  expectIssue(issues, 'spec.hosts[1]', /no ServiceEntry declares host 'other.demo.svc'/);
  expectIssue(issues, 'spec.host', /no ServiceEntry declares host 'ghost.demo.svc'/);
});

test('dangling subsets: no DestinationRule, or a subset the rule does not define', () => {
  const http = `  - route:
    - destination: {host: greeter.demo.svc, subset: v1}
      weight: 50
    - destination: {host: greeter.demo.svc, subset: v3}
      weight: 50
`;
  const withRule = errors(SE, DR, vs(http));
  const i = expectIssue(withRule, 'spec.http[0].route[1].destination.subset', /subset 'v3' is not defined by DestinationRule demo\/greeter/);
  assert.equal(i.kind, 'VirtualService');
  assert.equal(i.index, 2);
  const noRule = errors(SE, vs(http));
  expectIssue(noRule, 'spec.http[0].route[0].destination.subset', /no DestinationRule for host/);
});

test('duplicate (kind, namespace, name) across files is rejected; other kinds/namespaces may share a name', () => {
  const r = loadMeshConfig(new Map([['a.yaml', SE], ['b.yaml', `${DR}---\n${SE.replace('greeter.demo.svc', 'greeter2.demo.svc')}`]]));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const i = expectIssue(r.errors, 'metadata.name', /duplicate ServiceEntry demo\/greeter \(first defined in a\.yaml, document 0\)/);
  assert.equal(i.file, 'b.yaml');
  assert.equal(i.index, 1);
  ok(SE, DR, SE.replace('namespace: demo', 'namespace: other').replace('greeter.demo.svc', 'greeter.other.svc'));
});

test('a host declared by two ServiceEntries, or bound by two VirtualServices, is rejected', () => {
  const issues = errors(SE, SE.replace('name: greeter,', 'name: greeter-b,'),
    vs('  - route: [{destination: {host: greeter.demo.svc}}]\n'),
    vs('  - route: [{destination: {host: greeter.demo.svc}}]\n').replace('name: greeter,', 'name: greeter-b,'));
  expectIssue(issues, 'spec.hosts[0]', /already declared by ServiceEntry demo\/greeter/);
  expectIssue(issues, 'spec.hosts[0]', /already bound to VirtualService demo\/greeter/);
});

test('ports out of range', () => {
  const issues = errors(
    SE.replace('number: 50051', 'number: 70000'),
    `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w, namespace: demo}\nspec: {address: 10.0.0.1, ports: {grpc: 0}}\n`,
    SE.replace('name: greeter,', 'name: g2,').replace('greeter.demo.svc', 'g2.demo.svc').replace('protocol: GRPC', 'protocol: GRPC, targetPort: -1'),
  );
  expectIssue(issues, 'spec.ports[0].number', /70000 is out of range \(1\.\.65535\)/);
  expectIssue(issues, 'spec.ports.grpc', /0 is out of range/);
  expectIssue(issues, 'spec.ports[0].targetPort', /out of range/);
});

test('bad durations are rejected; good ones are parsed to milliseconds', () => {
  for (const bad of ['1.5', 'abc', '-1s', '0s', '1.5us']) {
    const issues = errors(SE, vs(`  - route: [{destination: {host: greeter.demo.svc}}]\n    timeout: "${bad}"\n`));
    expectIssue(issues, 'spec.http[0].timeout', /duration/);
  }
  const m = ok(SE, vs('  - route: [{destination: {host: greeter.demo.svc}}]\n    timeout: 1.5s\n'));
  assert.equal(m.virtualServices[0]!.http[0]!.timeoutMs, 1500);
  assert.deepEqual(parseDurationMs('1m30s'), { ms: 90_000 });
  assert.deepEqual(parseDurationMs('250ms'), { ms: 250 });
  assert.ok('error' in parseDurationMs('10'));
});

test('weights must sum to 100 when there is more than one destination', () => {
  const issues = errors(SE, DR, vs(`  - route:
    - destination: {host: greeter.demo.svc, subset: v1}
      weight: 80
    - destination: {host: greeter.demo.svc, subset: v2}
      weight: 10
`));
  expectIssue(issues, 'spec.http[0].route', /weights sum to 90; they must sum to 100/);
  const missing = errors(SE, DR, vs(`  - route:
    - destination: {host: greeter.demo.svc, subset: v1}
    - destination: {host: greeter.demo.svc, subset: v2}
      weight: 100
`));
  expectIssue(missing, 'spec.http[0].route[0].weight', /is required/);
  // A single destination needs no weight.
  ok(SE, vs('  - route: [{destination: {host: greeter.demo.svc}}]\n'));
});

test('an http route needs exactly one of route, redirect, directResponse; rewrite needs route', () => {
  const issues = errors(SE, vs(`  - match: [{uri: {prefix: /a}}]
  - route: [{destination: {host: greeter.demo.svc}}]
    directResponse: {status: 503}
  - redirect: {uri: /b}
    rewrite: {uri: /c}
`));
  expectIssue(issues, 'spec.http[0]', /one of route, redirect or directResponse is required/);
  expectIssue(issues, 'spec.http[1]', /only one of route, redirect or directResponse/);
  expectIssue(issues, 'spec.http[2].rewrite', /requires route/);
});

test('StringMatch needs exactly one of exact/prefix/regex; regexes are checked', () => {
  const issues = errors(SE, vs(`  - match:
    - uri: {exact: /a, prefix: /b}
      headers: {x-a: {regex: "("}}
      queryParams: {q: {prefix: a}}
    route: [{destination: {host: greeter.demo.svc}}]
`));
  expectIssue(issues, 'spec.http[0].match[0].uri', /exactly one of exact, prefix or regex/);
  expectIssue(issues, 'spec.http[0].match[0].headers["x-a"].regex', /invalid regex/);
  expectIssue(issues, 'spec.http[0].match[0].queryParams.q.prefix', /unknown field/);
});

test('STATIC endpoints must be IP literals; DNS ones may be host names', () => {
  const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: api.example.com}]
`;
  expectIssue(errors(se), 'spec.endpoints[0].address', /must be an IP address for resolution STATIC/);
  ok(se.replace('STATIC', 'DNS'));
});

test('a destination of a multi-port service needs a port, and the port must exist and speak HTTP', () => {
  const multi = SE.replace('ports: [{number: 50051, name: grpc, protocol: GRPC}]',
    'ports: [{number: 50051, name: grpc, protocol: GRPC}, {number: 8080, name: http, protocol: HTTP}, {number: 9000, name: tcp, protocol: TCP}]');
  const other = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: caller, namespace: demo}
spec:
  hosts: [front.demo.svc]
  http:
  - route: [{destination: {host: greeter.demo.svc}}]
  - route: [{destination: {host: greeter.demo.svc, port: {number: 1234}}}]
  - route: [{destination: {host: greeter.demo.svc, port: {number: 9000}}}]
`;
  const front = SE.replace('name: greeter,', 'name: front,').replace('greeter.demo.svc', 'front.demo.svc').replace('app: greeter', 'app: front');
  const issues = errors(multi, front, other);
  expectIssue(issues, 'spec.http[0].route[0].destination.port', /is required: host 'greeter.demo.svc' has more than one HTTP port/);
  expectIssue(issues, 'spec.http[1].route[0].destination.port.number', /has no port 1234/);
  expectIssue(issues, 'spec.http[2].route[0].destination.port.number', /is TCP/);
});

test('every error across every file is collected in one pass', () => {
  const r = loadMeshConfig(new Map([
    ['a.yaml', `${SE.replace('number: 50051', 'number: 0')}---\nkind: Nope\n`],
    ['b.yaml', 'a: [\n'],
    ['c.yaml', vs('  - route: [{destination: {host: x.demo.svc}}]\n    timeout: soon\n', '[greeter.demo.svc]')],
  ]));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const files = new Set(r.errors.map((e) => e.file));
  assert.deepEqual([...files].sort(), ['a.yaml', 'b.yaml', 'c.yaml']);
  assert.ok(r.errors.length >= 5, r.errors.map(formatMeshIssue).join('\n'));
});

test('label values must be strings and documents must be mappings', () => {
  const issues = errors(SE.replace('app: greeter', 'app: 1'), '- just a list\n');
  expectIssue(issues, 'spec.workloadSelector.labels.app', /label values must be strings/);
  expectIssue(issues, '', /must be a mapping/);
});

test('empty documents and comment-only files are skipped', () => {
  const r = loadMeshConfig(new Map([['a.yaml', `---\n${SE}---\n# nothing\n`], ['b.yaml', '# only a comment\n']]));
  assert.equal(r.ok, true);
});
