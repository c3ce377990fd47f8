/**
 * `remora inject` as a pure transformation: multi-document Kubernetes YAML in, the same documents
 * out with Remora's sidecar added to every pod template (like `istioctl kube-inject`), plus notes
 * on what was skipped. Pod templates are found in `Pod` (its own metadata/spec), `Deployment`,
 * `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job` (`spec.template`), `CronJob`
 * (`spec.jobTemplate.spec.template`) and `List` (`items`, recursively); every other document is
 * passed through untouched. A pod template is skipped when it opts out
 * (`sidecar.remora.dev/inject: "false"`), uses `hostNetwork`, or already has a `remora-proxy`
 * container, so injecting twice equals injecting once. Only the pod-template node of a changed
 * document is re-rendered: comments elsewhere survive, comments inside the template are lost.
 * Errors (malformed YAML, a template that is not a mapping, a bad annotation) are collected for
 * every document, each naming the file, document index, kind/name and field path; nothing is
 * returned when there is one. No IO here: see `../inject-command.ts`.
 */
import { LineCounter } from 'yaml';
import { documentValue, parseKubeYaml, renderKubeDocument } from './kube-yaml';
import { DEFAULT_CAPTURE, iptablesScript, parsePortList } from './iptables';
import { PROXY_CONTAINER, fillTemplate, isMapping, type InjectionTemplate } from './template';

export const DEFAULT_IMAGE = 'remora:dev';
/** The control plane's secure xDS port (`--xds-tls-port`, mTLS with the workload certificate). */
export const DEFAULT_CONTROL_PLANE = 'remora-control-plane.remora-system.svc:15012';
/**
 * The mesh CA. The sidecar's CA client speaks plaintext gRPC (docs/security.md: `--ca-address
 * <cp>:15010`), so this is the plaintext xDS port, where the control plane also serves the CA.
 */
export const DEFAULT_CA_ADDRESS = 'remora-control-plane.remora-system.svc:15010';

export const INJECT_ANNOTATION = 'sidecar.remora.dev/inject';
export const STATUS_ANNOTATION = 'sidecar.remora.dev/status';
export const EXCLUDE_INBOUND_ANNOTATION = 'traffic.sidecar.remora.dev/excludeInboundPorts';
export const EXCLUDE_OUTBOUND_ANNOTATION = 'traffic.sidecar.remora.dev/excludeOutboundPorts';

export interface InjectOptions {
  readonly image: string;
  /** `host:port` of the control plane's secure xDS port. */
  readonly controlPlane: string;
  /** `host:port` of the mesh CA. */
  readonly caAddress: string;
  readonly template: InjectionTemplate;
}

/** One problem or note, located in the input. */
export interface InjectIssue {
  /** 0-based index of the YAML document in the file. */
  readonly document: number;
  /** 1-based line where the document (or the YAML error) starts; null when unknown. */
  readonly line: number | null;
  /** `Kind/name`, or `document` when the kind is unknown. */
  readonly resource: string;
  /** Field path inside the document (`spec.template.metadata.annotations[...]`), '' for the whole document. */
  readonly path: string;
  readonly message: string;
}

export interface InjectResult {
  /** The documents, in order, joined by `---`. */
  readonly output: string;
  /** Pod templates that were skipped and why. */
  readonly notes: readonly InjectIssue[];
  /** Number of pod templates the sidecar was added to. */
  readonly injected: number;
}

/** The input cannot be injected; `issues` holds every problem, `message` lists them one per line. */
export class InjectError extends Error {
  constructor(readonly source: string, readonly issues: readonly InjectIssue[]) {
    super(issues.map((i) => formatInjectIssue(source, i)).join('\n'));
  }
}

/** `file:line: Kind/name (document N) path: message`. */
export function formatInjectIssue(source: string, i: InjectIssue): string {
  const where = i.line !== null ? `${source}:${i.line}` : source;
  return `${where}: ${i.resource} (document ${i.document})${i.path === '' ? '' : ' ' + i.path}: ${i.message}`;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/**
 * Injects every pod template of `text`. Throws InjectError (never anything else for bad input)
 * listing every problem; `source` names the input in messages.
 */
export function injectYaml(text: string, source: string, options: InjectOptions): InjectResult {
  const lc = new LineCounter();
  const docs = parseKubeYaml(text, lc);
  const errors: InjectIssue[] = [];
  const notes: InjectIssue[] = [];
  const out: string[] = [];
  let injected = 0;
  docs.forEach((doc, index) => {
    const start = doc.contents?.range?.[0] ?? doc.range?.[0];
    const line = start !== undefined ? lc.linePos(start).line : null;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      errors.push({ document: index, line: e.linePos?.[0].line ?? line, resource: 'document', path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` });
      return;
    }
    let value: unknown;
    try {
      value = documentValue(doc);
    } catch (err) {
      errors.push({ document: index, line, resource: 'document', path: '', message: `invalid YAML: ${(err as Error).message}` });
      return;
    }
    if (value === null || value === undefined) return; // empty or comment-only document
    const ctx: ResourceContext = { index, line, options, errors, notes, edits: [], injected: 0 };
    visitResource(ctx, value, []);
    if (ctx.edits.length > 0) {
      for (const e of ctx.edits) doc.setIn(e.keyPath, doc.createNode(e.value));
      injected += ctx.injected;
    }
    out.push(renderKubeDocument(doc));
  });
  if (errors.length > 0) throw new InjectError(source, errors);
  return { output: out.join('---\n'), notes, injected };
}

interface Edit {
  readonly keyPath: (string | number)[];
  readonly value: unknown;
}

interface ResourceContext {
  readonly index: number;
  readonly line: number | null;
  readonly options: InjectOptions;
  readonly errors: InjectIssue[];
  readonly notes: InjectIssue[];
  readonly edits: Edit[];
  injected: number;
}

/** Finds the pod templates of one resource (`at` = its key path in the document). */
function visitResource(ctx: ResourceContext, r: unknown, at: (string | number)[]): void {
  if (!isMapping(r)) {
    if (at.length > 0) ctx.errors.push(issue(ctx, 'document', at, 'expected a Kubernetes object (a mapping)'));
    return; // a top-level scalar or sequence is not a resource: pass it through
  }
  const kind = typeof r['kind'] === 'string' ? r['kind'] : null;
  const meta = isMapping(r['metadata']) ? r['metadata'] : null;
  const name = meta !== null && typeof meta['name'] === 'string' ? meta['name'] : null;
  const resource = kind === null ? 'document' : `${kind}/${name ?? '?'}`;
  if (kind === 'List') {
    const items = r['items'];
    if (items === undefined || items === null) return;
    if (!Array.isArray(items)) {
      ctx.errors.push(issue(ctx, resource, [...at, 'items'], 'expected a sequence'));
      return;
    }
    items.forEach((item, i) => visitResource(ctx, item, [...at, 'items', i]));
    return;
  }
  if (kind === 'Pod') {
    injectPod(ctx, resource, r, at, name, true);
    return;
  }
  let templatePath: string[] | null = null;
  if (kind !== null && WORKLOAD_KINDS.has(kind)) templatePath = ['spec', 'template'];
  else if (kind === 'CronJob') templatePath = ['spec', 'jobTemplate', 'spec', 'template'];
  if (templatePath === null) return;
  let node: unknown = r;
  for (let i = 0; i < templatePath.length; i++) {
    const next = (node as Record<string, unknown>)[templatePath[i]!];
    if (!isMapping(next)) {
      ctx.errors.push(issue(ctx, resource, [...at, ...templatePath.slice(0, i + 1)], next === undefined || next === null ? 'required: the pod template must be a mapping' : 'expected a mapping (the pod template)'));
      return;
    }
    node = next;
  }
  injectPod(ctx, resource, node as Record<string, unknown>, [...at, ...templatePath], name, false);
}

/**
 * Injects one pod template: `holder` has `metadata` and `spec` (a Pod, or a `template`).
 * Records the edit (the whole template, or for a Pod its metadata and spec) on success.
 */
function injectPod(ctx: ResourceContext, resource: string, holder: Record<string, unknown>, at: (string | number)[], ownerName: string | null, isPod: boolean): void {
  const errorsBefore = ctx.errors.length;
  const err = (p: (string | number)[], message: string) => ctx.errors.push(issue(ctx, resource, [...at, ...p], message));
  const metaIn = holder['metadata'] ?? {};
  if (!isMapping(metaIn)) return void err(['metadata'], 'expected a mapping');
  const spec = holder['spec'];
  if (!isMapping(spec)) return void err(['spec'], spec === undefined || spec === null ? 'required: the pod spec must be a mapping' : 'expected a mapping (the pod spec)');
  const annotations = metaIn['annotations'] ?? {};
  if (!isMapping(annotations)) return void err(['metadata', 'annotations'], 'expected a mapping');
  const labelsIn = metaIn['labels'] ?? {};
  if (!isMapping(labelsIn)) return void err(['metadata', 'labels'], 'expected a mapping');
  const containers = spec['containers'];
  if (!Array.isArray(containers) || containers.length === 0) return void err(['spec', 'containers'], 'expected a non-empty sequence of containers');
  for (let i = 0; i < containers.length; i++) if (!isMapping(containers[i])) return void err(['spec', 'containers', i], 'expected a mapping');
  for (const k of ['initContainers', 'volumes'] as const) {
    const v = spec[k];
    if (v !== undefined && v !== null && !Array.isArray(v)) return void err(['spec', k], 'expected a sequence');
  }

  const note = (message: string) => ctx.notes.push(issue(ctx, resource, at, message));
  const optIn = annotations[INJECT_ANNOTATION];
  if (optIn !== undefined) {
    const v = String(optIn);
    if (v !== 'true' && v !== 'false') return void err(['metadata', 'annotations', INJECT_ANNOTATION], `expected "true" or "false", got '${v}'`);
    if (v === 'false') return void note(`skipped: annotation ${INJECT_ANNOTATION} is "false"`);
  }
  if (spec['hostNetwork'] === true) return void note('skipped: hostNetwork pods share the node\'s network namespace, traffic cannot be captured');
  if (containers.some((c) => (c as Record<string, unknown>)['name'] === PROXY_CONTAINER)) return void note(`skipped: already injected (has a '${PROXY_CONTAINER}' container)`);

  const exclusions: number[][] = [];
  for (const a of [EXCLUDE_INBOUND_ANNOTATION, EXCLUDE_OUTBOUND_ANNOTATION]) {
    const raw = annotations[a];
    if (raw === undefined || raw === null) {
      exclusions.push([]);
      continue;
    }
    const parsed = parsePortList(String(raw));
    if (!parsed.ok) {
      err(['metadata', 'annotations', a], parsed.message);
      exclusions.push([]);
    } else exclusions.push(parsed.ports);
  }
  const labels: Record<string, string> = {};
  for (const k of Object.keys(labelsIn)) {
    const v = labelsIn[k];
    if (typeof v === 'object' && v !== null) err(['metadata', 'labels', k], 'expected a string');
    else labels[k] = String(v);
  }
  const appPorts: number[] = [];
  containers.forEach((c, ci) => {
    const ports = (c as Record<string, unknown>)['ports'];
    if (ports === undefined || ports === null) return;
    if (!Array.isArray(ports)) return void err(['spec', 'containers', ci, 'ports'], 'expected a sequence');
    ports.forEach((p, pi) => {
      if (!isMapping(p)) return void err(['spec', 'containers', ci, 'ports', pi], 'expected a mapping');
      const proto = p['protocol'] ?? 'TCP';
      if (proto !== 'TCP') return;
      const n = p['containerPort'];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) return void err(['spec', 'containers', ci, 'ports', pi, 'containerPort'], `expected a port 1-65535, got ${JSON.stringify(n)}`);
      if (!appPorts.includes(n)) appPorts.push(n);
    });
  });
  const workload = labels['app'] !== undefined && labels['app'] !== '' ? labels['app'] : ownerName;
  if (workload === null || workload === '') err(['metadata', 'labels', 'app'], 'cannot derive the workload name: set the label app or the metadata.name of the object');
  const saRaw = spec['serviceAccountName'] ?? spec['serviceAccount'] ?? 'default';
  if (typeof saRaw !== 'string' || saRaw === '') err(['spec', 'serviceAccountName'], 'expected a non-empty string');
  if (ctx.errors.length > errorsBefore) return;

  const filled = fillTemplate(ctx.options.template, {
    image: ctx.options.image,
    controlPlane: ctx.options.controlPlane,
    caAddress: ctx.options.caAddress,
    workload: workload!,
    serviceAccount: saRaw as string,
    iptablesScript: iptablesScript({ ...DEFAULT_CAPTURE, excludeInboundPorts: exclusions[0]!, excludeOutboundPorts: exclusions[1]! }),
    appPorts,
    labels,
  });
  // Names must not collide with what the pod already has.
  const initIn = (spec['initContainers'] as unknown[] | undefined | null) ?? [];
  const volumesIn = (spec['volumes'] as unknown[] | undefined | null) ?? [];
  const taken = (list: unknown[], n: unknown) => list.some((x) => isMapping(x) && x['name'] === n);
  for (const c of [...filled.initContainers, ...filled.containers]) {
    if (taken(containers, c['name']) || taken(initIn, c['name'])) err(['spec'], `a container named '${String(c['name'])}' already exists; it collides with the injected one`);
  }
  for (const v of filled.volumes) if (taken(volumesIn, v['name'])) err(['spec', 'volumes'], `a volume named '${String(v['name'])}' already exists; it collides with the injected one`);
  if (ctx.errors.length > errorsBefore) return;

  const status = {
    version: 1,
    image: ctx.options.image,
    initContainers: filled.initContainers.map((c) => c['name']),
    containers: filled.containers.map((c) => c['name']),
    volumes: filled.volumes.map((v) => v['name']),
  };
  const metaOut: Record<string, unknown> = { ...metaIn, annotations: { ...annotations, [STATUS_ANNOTATION]: JSON.stringify(status) } };
  // The app's own init containers run first (with the network untouched); capture starts last.
  const specOut: Record<string, unknown> = {
    ...spec,
    initContainers: [...initIn, ...filled.initContainers],
    containers: [...containers, ...filled.containers],
    volumes: [...volumesIn, ...filled.volumes],
  };
  if (isPod) {
    ctx.edits.push({ keyPath: [...at, 'metadata'], value: metaOut });
    ctx.edits.push({ keyPath: [...at, 'spec'], value: specOut });
  } else {
    ctx.edits.push({ keyPath: at, value: { ...holder, metadata: metaOut, spec: specOut } });
  }
  ctx.injected++;
}

function issue(ctx: ResourceContext, resource: string, at: (string | number)[], message: string): InjectIssue {
  return { document: ctx.index, line: ctx.line, resource, path: formatPath(at), message };
}

/** `spec.template.metadata.annotations[sidecar.remora.dev/inject]`, `items[0].spec`. */
export function formatPath(at: readonly (string | number)[]): string {
  let s = '';
  for (const k of at) {
    if (typeof k === 'number') s += `[${k}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) s += s === '' ? k : `.${k}`;
    else s += `[${k}]`;
  }
  return s;
}

