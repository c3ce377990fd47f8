/**
 * The Kubernetes manifests under k8s/, checked without a cluster (there is none here): every file
 * parses as Kubernetes YAML; k8s/mesh.yaml passes the control plane's own validator and is what
 * the control-plane ConfigMap carries; the control-plane container's args pass the real
 * `remora control-plane` parser and match the Service and probes; `remora inject` of
 * k8s/example-app.yaml gives every Deployment a sidecar whose args (with the downward-API
 * variables substituted) pass the real `remora sidecar` parser and compile into a bootstrap; and
 * the real CLI does the same end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadMeshConfig, formatMeshIssue } from '../src/control-plane/mesh';
import { parseControlPlaneArgs } from '../src/cli/control-plane-commands';
import { parseSidecarArgs } from '../src/cli/main';
import { DEFAULT_CA_ADDRESS, DEFAULT_CONTROL_PLANE, injectYaml } from '../src/cli/inject/inject';
import { defaultTemplatePath, loadInjectionTemplate } from '../src/cli/inject/template';
import { parseKubeYaml } from '../src/cli/inject/kube-yaml';
import { parseProtoJson } from '../src/config/compile/proto-json';
import { compileBootstrap } from '../src/config/compile/bootstrap';
import { BOOTSTRAP_TYPE } from '../src/config/compile/load-bootstrap';
import { defaultExtensionRegistry } from '../src/filters/registry';
import { loadEnvoyProtos } from '../src/xds/protos';
import { repoPath } from './fakes/paths';
import { runCli } from './fakes/sidecar-process';

type Obj = Record<string, any>;
const K8S = repoPath('k8s');
const read = (name: string) => readFileSync(repoPath('k8s', name), 'utf8');
const docs = (text: string): Obj[] => parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as Obj).filter((d) => d !== null);

test('every k8s/*.yaml parses as Kubernetes YAML (1.1, unique keys), and the template loads', () => {
  const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(files.sort(), ['control-plane.yaml', 'example-app.yaml', 'injection-template.yaml', 'mesh.yaml']);
  for (const f of files) {
    const parsed = parseKubeYaml(read(f));
    assert.ok(parsed.length > 0, f);
    for (const d of parsed) assert.deepEqual(d.errors.map((e) => e.message), [], f);
  }
  for (const f of ['control-plane.yaml', 'example-app.yaml', 'mesh.yaml']) {
    for (const d of docs(read(f))) {
      assert.equal(typeof d.apiVersion, 'string', `${f}: ${d.kind} apiVersion`);
      assert.equal(typeof d.kind, 'string', f);
      assert.equal(typeof d.metadata?.name, 'string', `${f}: ${d.kind} metadata.name`);
    }
  }
  assert.equal(loadInjectionTemplate(defaultTemplatePath()).containers.length, 1);
});

test('k8s/mesh.yaml passes the control plane validator and is the text of the control-plane ConfigMap', () => {
  const text = read('mesh.yaml');
  const result = loadMeshConfig(new Map([['k8s/mesh.yaml', text]]));
  assert.ok(result.ok, result.ok ? '' : result.errors.map(formatMeshIssue).join('\n'));
  const cm = docs(read('control-plane.yaml')).find((d) => d.kind === 'ConfigMap');
  assert.equal(cm?.data?.['mesh.yaml'], text, 'k8s/control-plane.yaml ConfigMap remora-mesh must carry k8s/mesh.yaml unchanged');
});

test('control-plane Deployment: args pass the real parser; ports, Service, probe and mounts agree', () => {
  const all = docs(read('control-plane.yaml'));
  assert.deepEqual(all.map((d) => d.kind), ['Namespace', 'ServiceAccount', 'ConfigMap', 'Deployment', 'Service']);
  const dep = all.find((d) => d.kind === 'Deployment')!;
  const pod = dep.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'remora-control-plane', 'the CA issues the control plane this identity');
  const c = pod.containers[0];
  assert.equal(c.args[0], 'control-plane');
  const parsed = parseControlPlaneArgs(c.args.slice(1));
  assert.ok(parsed !== null);
  assert.equal(parsed.values.host, '0.0.0.0', 'pods and the kubelet must reach it');
  assert.deepEqual([parsed.xdsPort, parsed.xdsTlsPort, parsed.adminPort], [15010, 15012, 15014]);
  assert.equal(c.readinessProbe.httpGet.path, '/ready');
  assert.equal(c.readinessProbe.httpGet.port, parsed.adminPort);
  const svc = all.find((d) => d.kind === 'Service')!;
  assert.deepEqual(svc.spec.ports.map((p: Obj) => p.targetPort).sort(), [15010, 15012, 15014]);
  assert.deepEqual(svc.spec.selector, dep.spec.template.metadata.labels);
  // --control-plane / --ca-address defaults of inject point at this Service.
  assert.equal(DEFAULT_CONTROL_PLANE, `${svc.metadata.name}.${svc.metadata.namespace}.svc:${parsed.xdsTlsPort}`);
  assert.equal(DEFAULT_CA_ADDRESS, `${svc.metadata.name}.${svc.metadata.namespace}.svc:${parsed.xdsPort}`);
  // Every path flag lives on a mounted volume.
  const mounts: string[] = c.volumeMounts.map((m: Obj) => m.mountPath);
  for (const p of [parsed.values.config!, parsed.values['ca-dir']!, parsed.values['ca-tokens']!]) {
    assert.ok(mounts.some((m) => p === m || p.startsWith(m + '/')), `${p} is not under a volume mount`);
  }
  const vols = Object.fromEntries(pod.volumes.map((v: Obj) => [v.name, v]));
  assert.equal(vols['ca'].secret.defaultMode, 0o440);
  assert.equal(vols['mesh'].configMap.name, all.find((d) => d.kind === 'ConfigMap')!.metadata.name);
});

test('inject k8s/example-app.yaml: every Deployment gets a sidecar accepted by the real sidecar parser and bootstrap compiler', () => {
  const input = read('example-app.yaml');
  const r = injectYaml(input, 'k8s/example-app.yaml', { image: 'remora:dev', controlPlane: DEFAULT_CONTROL_PLANE, caAddress: DEFAULT_CA_ADDRESS, template: loadInjectionTemplate(defaultTemplatePath()) });
  const out = docs(r.output);
  const deployments = out.filter((d) => d.kind === 'Deployment');
  assert.deepEqual(deployments.map((d) => d.metadata.name), ['greeter-v1', 'greeter-v2', 'client']);
  assert.equal(r.injected, 3);
  assert.deepEqual(out.filter((d) => d.kind !== 'Deployment'), docs(input).filter((d) => d.kind !== 'Deployment'), 'other documents unchanged');
  const protos = loadEnvoyProtos();
  const registry = defaultExtensionRegistry();
  for (const d of deployments) {
    const pod = d.spec.template.spec;
    const proxy = pod.containers.find((c: Obj) => c.name === 'remora-proxy');
    assert.ok(proxy !== undefined, d.metadata.name);
    const env = { POD_NAME: `${d.metadata.name}-abc12`, POD_NAMESPACE: d.metadata.namespace };
    for (const e of proxy.env) assert.ok(e.name in env, `env ${e.name} comes from the downward API`);
    const args: string[] = proxy.args.map((a: string) => a.replace(/\$\((\w+)\)/g, (_, n: string) => (env as Record<string, string>)[n]!));
    assert.equal(args[0], 'sidecar');
    const parsed = parseSidecarArgs(args.slice(1));
    assert.ok(parsed !== null);
    assert.equal(parsed.values['xds-tls'], true);
    assert.equal(parsed.identity?.caAddress, DEFAULT_CA_ADDRESS);
    // The token file is on the mounted Secret volume of this service account.
    const mount = proxy.volumeMounts[0];
    assert.ok(parsed.identity!.caTokenFile!.startsWith(mount.mountPath + '/'));
    const vol = pod.volumes.find((v: Obj) => v.name === mount.name);
    assert.equal(vol.secret.secretName, `remora-ca-token-${pod.serviceAccountName}`);
    const md = (parsed.bootstrapJson as Obj).node.metadata;
    assert.equal((parsed.bootstrapJson as Obj).node.id, `${d.metadata.name}-abc12.default`);
    assert.equal(md.WORKLOAD_NAME, d.spec.template.metadata.labels.app);
    assert.equal(md.NAMESPACE, 'default');
    assert.equal(md.SERVICE_ACCOUNT, pod.serviceAccountName);
    assert.deepEqual(md.LABELS, d.spec.template.metadata.labels);
    assert.deepEqual(md.APP_PORTS ?? [], d.metadata.name === 'client' ? [] : [50051]);
    assert.deepEqual([md.OUTBOUND_PORT, md.INBOUND_PORT], [15001, 15006], 'explicit, or the inbound listener would take the app port');
    // The kubelet probes the health port the sidecar is told to serve (the admin API is loopback-only).
    assert.equal(proxy.readinessProbe.httpGet.port, Number(parsed.values['health-port']));
    assert.equal(proxy.readinessProbe.httpGet.path, '/healthz/ready');
    const proto = parseProtoJson(protos, BOOTSTRAP_TYPE, parsed.bootstrapJson, '');
    assert.ok(proto.ok, proto.ok ? '' : JSON.stringify(proto));
    const compiled = compileBootstrap(proto.value, { filters: registry, readFile: (p) => readFileSync(p) });
    assert.ok(compiled.ok, compiled.ok ? '' : JSON.stringify(compiled));
  }
});

test('remora inject (real CLI): exit 0 and YAML that parses; bad input exits 2 with nothing on stdout', async (t) => {
  const ok = await runCli(['inject', '-f', 'k8s/example-app.yaml', '--image', 'registry.example/remora:1.0']);
  assert.equal(ok.code, 0, ok.stderr);
  const out = docs(ok.stdout);
  assert.equal(out.filter((d) => d.kind === 'Deployment').length, 3);
  for (const d of out.filter((x) => x.kind === 'Deployment')) {
    assert.equal(d.spec.template.spec.containers.at(-1).image, 'registry.example/remora:1.0');
  }
  const bad = await runCli(['inject', '-f', 'k8s/mesh.yaml', '--ca-address', 'nope']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /--ca-address: expected host:port/);
  const dir = mkdtempSync(path.join(tmpdir(), 'remora-inject-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'broken.yaml');
  writeFileSync(broken, 'kind: Service\nmetadata: {name: s}\n---\nkind: Deployment\nmetadata: {name: d}\nspec: {template: [x]}\n');
  const invalid = await runCli(['inject', '-f', broken]);
  assert.equal(invalid.code, 2);
  assert.equal(invalid.stdout, '');
  assert.match(invalid.stderr, /broken\.yaml:4: Deployment\/d \(document 1\) spec\.template: expected a mapping/);
  const missing = await runCli(['inject', '-f', 'k8s/does-not-exist.yaml']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /k8s\/does-not-exist\.yaml: cannot read/);
});
