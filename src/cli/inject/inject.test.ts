/**
 * `remora inject` as a transformation: which documents get the sidecar, what is added and derived,
 * what is skipped, idempotency, the iptables exclusions and every error with its location.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_CA_ADDRESS, DEFAULT_CONTROL_PLANE, InjectError, STATUS_ANNOTATION, injectYaml, type InjectOptions } from './inject';
import { buildNatRules, DEFAULT_CAPTURE, iptablesScript, parsePortList } from './iptables';
import { TemplateError, defaultTemplatePath, fillTemplate, loadInjectionTemplate, parseInjectionTemplate } from './template';

const OPTS: InjectOptions = { image: 'remora:test', controlPlane: DEFAULT_CONTROL_PLANE, caAddress: DEFAULT_CA_ADDRESS, template: loadInjectionTemplate(defaultTemplatePath()) };

type Obj = Record<string, any>;
const docsOf = (yamlText: string): Obj[] => parseAllDocuments(yamlText, { version: '1.1' }).map((d) => d.toJS() as Obj);
const run = (text: string, opts: InjectOptions = OPTS) => injectYaml(text, 'in.yaml', opts);
const proxyOf = (spec: Obj): Obj => spec.containers.find((c: Obj) => c.name === 'remora-proxy');
const argAfter = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

const DEPLOYMENT = `# leading comment survives
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the owner name
spec:
  template:
    metadata:
      labels: {app: shop, version: v2}
    spec:
      serviceAccountName: shop-sa
      initContainers:
      - {name: migrate, image: busybox}
      containers:
      - name: app
        image: nginx
        ports:
        - {containerPort: 8080}
        - {containerPort: 8080, name: dup}
        - {containerPort: 9090, protocol: TCP}
        - {containerPort: 53, protocol: UDP}
      - name: helper
        image: busybox
        ports: [{containerPort: 7070}]
      volumes:
      - name: data
        secret: {secretName: data, defaultMode: 0644}
`;

function expectError(text: string, re: RegExp): InjectError {
  let caught: unknown;
  try {
    run(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof InjectError, `expected InjectError, got ${String(caught)}`);
  assert.match(caught.message, re);
  return caught;
}

test('Deployment: init container, proxy, volume and status annotation are added; app containers kept in order', () => {
  const r = run(DEPLOYMENT);
  assert.equal(r.injected, 1);
  assert.deepEqual(r.notes, []);
  const [d] = docsOf(r.output);
  const spec = d!.spec.template.spec;
  assert.deepEqual(spec.containers.map((c: Obj) => c.name), ['app', 'helper', 'remora-proxy']);
  assert.deepEqual(spec.initContainers.map((c: Obj) => c.name), ['migrate', 'remora-init'], 'app init containers run before capture starts');
  assert.deepEqual(spec.volumes.map((v: Obj) => v.name), ['data', 'remora-ca-token']);
  assert.equal(spec.volumes[0].secret.defaultMode, 0o644, 'YAML 1.1 octal survives (Kubernetes reads 0644 as octal)');
  assert.equal(spec.volumes[1].secret.secretName, 'remora-ca-token-shop-sa');
  const proxy = proxyOf(spec);
  assert.equal(proxy.image, 'remora:test');
  assert.equal(proxy.securityContext.runAsUser, 1337);
  assert.ok(proxy.resources.requests.cpu !== undefined);
  assert.deepEqual(proxy.env.map((e: Obj) => [e.name, e.valueFrom.fieldRef.fieldPath]), [['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace']]);
  assert.deepEqual(proxy.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021 });
  assert.deepEqual(proxy.args.slice(proxy.args.indexOf('--health-port'), proxy.args.indexOf('--health-port') + 2), ['--health-port', '15021']);
  const init = spec.initContainers[1];
  assert.deepEqual(init.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
  assert.equal(init.command[0], 'sh');
  assert.match(init.command[2], /REDIRECT --to-ports 15006/);
  const status = JSON.parse(d!.spec.template.metadata.annotations[STATUS_ANNOTATION]);
  assert.deepEqual(status, { version: 1, image: 'remora:test', initContainers: ['remora-init'], containers: ['remora-proxy'], volumes: ['remora-ca-token'] });
  assert.match(r.output, /^# leading comment survives\n/);
  assert.match(r.output, /name: web +# the owner name/, 'comments outside the pod template are kept');
  assert.match(r.output, /set -eu\n/, 'the script is a literal block');
});

test('derived values: workload from label app, service account, TCP app ports (deduplicated), labels', () => {
  const [d] = docsOf(run(DEPLOYMENT).output);
  const args: string[] = proxyOf(d!.spec.template.spec).args;
  assert.equal(args[0], 'sidecar');
  assert.deepEqual(argAfter(args, '--workload'), ['shop']);
  assert.deepEqual(argAfter(args, '--service-account'), ['shop-sa']);
  assert.deepEqual(argAfter(args, '--app-port'), ['8080', '9090', '7070']);
  assert.deepEqual(argAfter(args, '--label'), ['app=shop', 'version=v2']);
  assert.deepEqual(argAfter(args, '--xds'), [DEFAULT_CONTROL_PLANE]);
  assert.deepEqual(argAfter(args, '--ca-address'), [DEFAULT_CA_ADDRESS]);
  assert.deepEqual(argAfter(args, '--node-id'), ['$(POD_NAME).$(POD_NAMESPACE)']);
  assert.deepEqual(argAfter(args, '--namespace'), ['$(POD_NAMESPACE)']);
  assert.ok(args.includes('--xds-tls'));
  for (const a of args) assert.equal(typeof a, 'string', 'Kubernetes args are strings');
});

test('derived values: without label app the owner name is the workload; the default service account is default', () => {
  const [d] = docsOf(run(`kind: StatefulSet\nmetadata: {name: db}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n`).output);
  const args: string[] = proxyOf(d!.spec.template.spec).args;
  assert.deepEqual(argAfter(args, '--workload'), ['db']);
  assert.deepEqual(argAfter(args, '--service-account'), ['default']);
  assert.deepEqual(argAfter(args, '--app-port'), []);
  assert.deepEqual(argAfter(args, '--label'), []);
});

test('Pod: its own metadata and spec are injected', () => {
  const r = run(`apiVersion: v1\nkind: Pod\nmetadata: {name: p1, labels: {app: solo}}\nspec:\n  containers: [{name: c, image: x, ports: [{containerPort: 80}]}]\n`);
  const [p] = docsOf(r.output);
  assert.equal(r.injected, 1);
  assert.ok(p!.metadata.annotations[STATUS_ANNOTATION] !== undefined);
  assert.deepEqual(argAfter(proxyOf(p!.spec).args, '--workload'), ['solo']);
  assert.deepEqual(argAfter(proxyOf(p!.spec).args, '--app-port'), ['80']);
});

test('CronJob: spec.jobTemplate.spec.template; DaemonSet, ReplicaSet and Job: spec.template', () => {
  const pod = '    metadata: {labels: {app: a}}\n    spec:\n      containers: [{name: c, image: x}]\n';
  const cron = `kind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: "0 3 * * *"\n  jobTemplate:\n    spec:\n      template:\n        metadata: {labels: {app: batch}}\n        spec:\n          restartPolicy: Never\n          containers: [{name: c, image: x}]\n`;
  const r = run([cron, ...['DaemonSet', 'ReplicaSet', 'Job'].map((k) => `kind: ${k}\nmetadata: {name: ${k.toLowerCase()}}\nspec:\n  template:\n${pod}`)].join('---\n'));
  assert.equal(r.injected, 4);
  const docs = docsOf(r.output);
  assert.equal(docs[0]!.spec.schedule, '0 3 * * *');
  assert.deepEqual(argAfter(proxyOf(docs[0]!.spec.jobTemplate.spec.template.spec).args, '--workload'), ['batch']);
  for (const d of docs.slice(1)) assert.ok(proxyOf(d.spec.template.spec) !== undefined, d.kind);
});

test('List: items are injected recursively, nested Lists too; other items untouched', () => {
  const text = `apiVersion: v1\nkind: List\nitems:\n- {kind: Service, metadata: {name: s}, spec: {ports: [{port: 80}]}}\n- kind: List\n  items:\n  - {kind: Pod, metadata: {name: inner}, spec: {containers: [{name: c, image: x}]}}\n- kind: Deployment\n  metadata: {name: d}\n  spec: {template: {spec: {containers: [{name: c, image: x}]}}}\n`;
  const r = run(text);
  assert.equal(r.injected, 2);
  const [l] = docsOf(r.output);
  assert.deepEqual(l!.items[0], { kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } });
  assert.ok(proxyOf(l!.items[1].items[0].spec) !== undefined);
  assert.ok(proxyOf(l!.items[2].spec.template.spec) !== undefined);
});

test('non-pod documents are printed unchanged, in order, comments included; empty documents are dropped', () => {
  const svc = '# the service\napiVersion: v1\nkind: Service\nmetadata:\n  name: web # keep me\nspec:\n  ports:\n    - port: 80\n';
  const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  flag: "yes"\n  mode: 0644\n';
  const r = run(`${svc}---\n${cm}---\n`);
  assert.equal(r.injected, 0);
  assert.equal(r.output, `${svc}---\n${cm}`);
});

test('opt-out annotation, hostNetwork and already-injected pods are skipped with a note', () => {
  const text = [
    `kind: Deployment\nmetadata: {name: optout}\nspec:\n  template:\n    metadata: {annotations: {sidecar.remora.dev/inject: "false"}}\n    spec: {containers: [{name: c, image: x}]}\n`,
    `kind: Deployment\nmetadata: {name: host}\nspec:\n  template:\n    spec: {hostNetwork: true, containers: [{name: c, image: x}]}\n`,
    `kind: Pod\nmetadata: {name: done}\nspec: {containers: [{name: c, image: x}, {name: remora-proxy, image: y}]}\n`,
  ].join('---\n');
  const r = run(text);
  assert.equal(r.injected, 0);
  assert.equal(r.output, text);
  assert.deepEqual(r.notes.map((n) => [n.document, n.resource, n.path]), [[0, 'Deployment/optout', 'spec.template'], [1, 'Deployment/host', 'spec.template'], [2, 'Pod/done', '']]);
  assert.match(r.notes[0]!.message, /sidecar\.remora\.dev\/inject is "false"/);
  assert.match(r.notes[1]!.message, /hostNetwork/);
  assert.match(r.notes[2]!.message, /already injected/);
});

test('idempotent: inject(inject(x)) == inject(x), byte for byte', () => {
  const once = run(DEPLOYMENT).output;
  const twice = run(once);
  assert.equal(twice.output, once);
  assert.equal(twice.injected, 0);
  assert.equal(twice.notes.length, 1);
});

test('excluded ports from annotations end up in the iptables rules', () => {
  const text = `kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata:\n      annotations:\n        traffic.sidecar.remora.dev/excludeInboundPorts: "8081, 9000"\n        traffic.sidecar.remora.dev/excludeOutboundPorts: "5432"\n    spec: {containers: [{name: c, image: x}]}\n`;
  const [d] = docsOf(run(text).output);
  const script: string = d!.spec.template.spec.initContainers[0].command[2];
  assert.match(script, /-A REMORA_INBOUND -p tcp --dport 8081 -j RETURN\n/);
  assert.match(script, /-A REMORA_INBOUND -p tcp --dport 9000 -j RETURN\n/);
  assert.match(script, /-A REMORA_OUTPUT -p tcp --dport 5432 -j RETURN\n/);
  assert.doesNotMatch(script, /REMORA_OUTPUT -p tcp --dport 8081/);
  // Exclusions come before the catch-all redirect.
  assert.ok(script.indexOf('--dport 5432') < script.indexOf('-A REMORA_OUTPUT -p tcp -j REMORA_REDIRECT'));
});

test('iptables rules: redirect ports, proxy UID, loopback and the reserved range', () => {
  const rules = buildNatRules({ ...DEFAULT_CAPTURE, excludeOutboundPorts: [25] }).map((r) => r.join(' '));
  assert.ok(rules.includes('-A REMORA_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'));
  assert.ok(rules.includes('-A REMORA_REDIRECT -p tcp -j REDIRECT --to-ports 15001'));
  assert.ok(rules.includes('-A REMORA_OUTPUT -m owner --uid-owner 1337 -j RETURN'));
  assert.ok(rules.includes('-A REMORA_OUTPUT -o lo -j RETURN'));
  assert.ok(rules.includes('-A REMORA_INBOUND -p tcp --dport 15000:15021 -j RETURN'));
  assert.ok(rules.includes('-A REMORA_OUTPUT -p tcp --dport 15000:15021 -j RETURN'));
  assert.equal(rules[rules.length - 1], '-A REMORA_OUTPUT -p tcp -j REMORA_REDIRECT');
  const script = iptablesScript(DEFAULT_CAPTURE);
  assert.match(script, /^set -eu\n/);
  assert.match(script, /iptables -t nat -C PREROUTING -p tcp -j REMORA_INBOUND 2>\/dev\/null \|\| iptables -t nat -A PREROUTING/);
  assert.match(script, /iptables -t nat -C OUTPUT -p tcp -j REMORA_OUTPUT 2>\/dev\/null \|\| iptables -t nat -A OUTPUT/);
});

test('parsePortList: valid lists, deduplication, and the rejected values', () => {
  assert.deepEqual(parsePortList(' 80,443 ,80'), { ok: true, ports: [80, 443] });
  assert.deepEqual(parsePortList(''), { ok: true, ports: [] });
  for (const bad of ['0', '65536', 'http', '80,,81', '-1', '1.5']) assert.equal(parsePortList(bad).ok, false, bad);
});

test('errors: malformed YAML names the file, document and line', () => {
  const e = expectError('kind: Service\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: b\n', /^in\.yaml:\d+: document \(document 1\): invalid YAML/);
  assert.equal(e.issues.length, 1);
  expectError('a: 1\na: 2\n', /in\.yaml:\d+: document \(document 0\): invalid YAML: .*[Uu]nique|duplicate/i);
});

test('errors: a pod template that is not a mapping, and missing containers', () => {
  expectError('kind: Deployment\nmetadata: {name: d}\nspec: {template: [1]}\n', /Deployment\/d \(document 0\) spec\.template: expected a mapping/);
  expectError('kind: Deployment\nmetadata: {name: d}\nspec: {}\n', /Deployment\/d \(document 0\) spec\.template: required/);
  expectError('kind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: x}}}\n', /CronJob\/c \(document 0\) spec\.jobTemplate\.spec\.template: expected a mapping/);
  expectError('kind: Pod\nmetadata: {name: p}\nspec: [a]\n', /Pod\/p \(document 0\) spec: expected a mapping/);
  expectError('kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n', /Pod\/p \(document 0\) spec\.containers: expected a non-empty sequence/);
  expectError('kind: List\nitems:\n- 5\n', /items\[0\]: expected a Kubernetes object/);
});

test('errors: bad annotations name the document, resource and annotation; every document is reported', () => {
  const text = [
    `kind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    metadata: {annotations: {traffic.sidecar.remora.dev/excludeInboundPorts: "80,99999"}}\n    spec: {containers: [{name: c, image: x}]}\n`,
    `kind: Deployment\nmetadata: {name: b}\nspec:\n  template:\n    metadata: {annotations: {traffic.sidecar.remora.dev/excludeOutboundPorts: "db"}}\n    spec: {containers: [{name: c, image: x}]}\n`,
    `kind: Pod\nmetadata: {name: c, annotations: {sidecar.remora.dev/inject: "maybe"}}\nspec: {containers: [{name: c, image: x}]}\n`,
  ].join('---\n');
  const e = expectError(text, /Deployment\/a \(document 0\) spec\.template\.metadata\.annotations\[traffic\.sidecar\.remora\.dev\/excludeInboundPorts\]: expected comma-separated ports 1-65535, got '99999'/);
  assert.match(e.message, /Deployment\/b \(document 1\) spec\.template\.metadata\.annotations\[traffic\.sidecar\.remora\.dev\/excludeOutboundPorts\]: .*got 'db'/);
  assert.match(e.message, /Pod\/c \(document 2\) metadata\.annotations\[sidecar\.remora\.dev\/inject\]: expected "true" or "false", got 'maybe'/);
  assert.equal(e.issues.length, 3);
});

test('errors: bad container ports, no workload name, name collisions', () => {
  expectError('kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: 70000}]}]}\n', /spec\.containers\[0\]\.ports\[0\]\.containerPort: expected a port 1-65535, got 70000/);
  expectError('kind: Pod\nmetadata: {generateName: p-}\nspec: {containers: [{name: c, image: x}]}\n', /Pod\/\? \(document 0\) metadata\.labels\.app: cannot derive the workload name/);
  expectError('kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}], volumes: [{name: remora-ca-token, emptyDir: {}}]}\n', /spec\.volumes: a volume named 'remora-ca-token' already exists/);
  expectError('kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}], initContainers: [{name: remora-init, image: y}]}\n', /a container named 'remora-init' already exists/);
});

test('template: placeholders are filled in the tree, lists are spliced, bad templates are rejected', () => {
  const t = parseInjectionTemplate('containers:\n- name: remora-proxy\n  image: "{{image}}"\n  args: [a, "{{appPortArgs}}", "--x={{workload}}", "{{labelArgs}}"]\n', 't.yaml');
  const f = fillTemplate(t, { image: 'img', controlPlane: 'cp:1', caAddress: 'ca:1', workload: 'w: {x}', serviceAccount: 'sa', iptablesScript: '', appPorts: [1, 2], labels: { a: 'b' } });
  assert.deepEqual(f.containers[0], { name: 'remora-proxy', image: 'img', args: ['a', '--app-port', '1', '--app-port', '2', '--x=w: {x}', '--label', 'a=b'] });
  assert.deepEqual(f.initContainers, []);
  const bad: [string, RegExp][] = [
    ['containers: [{name: other}]\n', /must contain a container named 'remora-proxy'/],
    ['containers: [{name: remora-proxy, image: "{{nope}}"}]\n', /t\.yaml: containers\[0\]\.image: unknown placeholder \{\{nope\}\}/],
    ['containers: [{name: remora-proxy, x: "{{labelArgs}}"}]\n', /containers\[0\]\.x: \{\{labelArgs\}\} must be a whole sequence item/],
    ['containers: [{name: remora-proxy}]\nextra: 1\n', /extra: unknown field/],
    ['- 1\n', /expected a mapping/],
    ['containers: [{name: remora-proxy}]\n---\nvolumes: []\n', /expected one YAML document, got 2/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseInjectionTemplate(text, 't.yaml'), (e: unknown) => e instanceof TemplateError && re.test(e.message), text);
});
