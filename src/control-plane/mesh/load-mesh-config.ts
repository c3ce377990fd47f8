/**
 * The mesh-config pipeline entry point: multi-document YAML text by file → validated, deep-frozen
 * `MeshConfig`, or every problem found (`MeshConfigIssue` with file, document index, kind, name,
 * field path, line:col and reason). Owns the document envelope (apiVersion/kind/metadata/spec),
 * dispatch to the per-kind validators, and the cross-document rules: duplicate (kind, namespace,
 * name), hosts declared once, one VirtualService/DestinationRule per host, and dangling host,
 * port and subset references. Pure and synchronous; used by the control plane and `remora
 * validate`. With a shared MeshDocumentCache, an unchanged document (same text, file and index)
 * reuses its parse and its validated value from the previous load, so a reload costs the changed
 * documents plus the cross-document checks (`MeshConfigLoader` goes further for VirtualService
 * edits: it patches the previous config). GrpcTranscoder/GrpcValidation descriptors are resolved on
 * every load through a `DescriptorSources` (it reads and compiles `.proto` files, cached while they
 * are unchanged), so an edit to a `.proto` file takes effect on the next load.
 */
import { isIP } from 'node:net';
import { documentValue, MeshDocumentCache, type DocumentSpan } from './document-cache';
import { DocContext, isPlainObject, type Path } from './document-context';
import { workloadIndexKey } from './model';
import type {
  DestinationRule, MeshConfig, MeshConfigIssue, MeshKind, PeerAuthentication, RateLimitPolicy, ResourceMeta, ServiceEntry, VirtualService, WorkloadEntry,
} from './model';
import { checkRateLimitPolicies, readRateLimitPolicy, REMORA_API_VERSION } from './rate-limit-policy';
import { checkPeerAuthentications, readPeerAuthentication } from './peer-authentication';
import { readAuthorizationPolicy, SECURITY_API_VERSIONS, type AuthorizationPolicy } from './authorization-policy';
import { readRequestAuthentication, type RequestAuthentication } from './request-authentication';
import { readServiceEntry, readWorkloadEntry } from './service-entry';
import { checkMeshConfigDocuments, DEFAULT_TELEMETRY_PROVIDERS, readMeshConfigDocument, type TelemetryProviders } from './extension-providers';
import { checkTelemetries, readTelemetry, TELEMETRY_API_VERSIONS, type Telemetry } from './telemetry';
import { readDestinationRule, readVirtualService } from './virtual-service';
import { DescriptorSources } from '../sources/descriptor-sources';
import { checkOneSelectorPerWorkload, readGrpcTranscoder, resolveGrpcTranscoders, type GrpcTranscoder } from './grpc-transcoder';
import { readGrpcValidation, resolveGrpcValidations, type GrpcValidation } from './grpc-validation';

/** API groups/versions accepted for every kind (Istio's `v1` plus its older aliases). */
export const NETWORKING_API_VERSIONS: readonly string[] = [
  'networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3',
];
const KINDS: readonly MeshKind[] = ['ServiceEntry', 'WorkloadEntry', 'VirtualService', 'DestinationRule', 'RateLimitPolicy', 'AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication', 'Telemetry', 'MeshConfig', 'GrpcTranscoder', 'GrpcValidation'];
const METADATA_FIELDS = [
  'name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'managedFields', 'finalizers', 'ownerReferences', 'generateName',
];
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export type MeshConfigResult =
  | { readonly ok: true; readonly config: MeshConfig }
  | { readonly ok: false; readonly errors: readonly MeshConfigIssue[] };

interface Parsed<T> {
  readonly ctx: DocContext;
  readonly value: T;
}

/**
 * Validates the documents of every file (processed in sorted file-name order; documents in file
 * order; empty documents skipped). Returns the frozen config, or ALL issues found. Never throws.
 */
export function loadMeshConfig(
  files: ReadonlyMap<string, string>,
  cache: MeshDocumentCache = new MeshDocumentCache(),
  descriptors: DescriptorSources = new DescriptorSources(),
): MeshConfigResult {
  return loadMeshConfigRecorded(files, cache, descriptors, null);
}

/**
 * What a load saw in one file, for `MeshConfigLoader`'s incremental path: per document (in order,
 * empty ones included) its chunk span and its validated read (null for an empty document).
 * `spans` is null when the file was parsed whole (not split at `---` lines).
 */
export interface FileLoadRecord {
  readonly spans: readonly DocumentSpan[] | null;
  readonly reads: readonly (DocRead | null)[];
}

/**
 * `loadMeshConfig`, also filling `record` (when given) with a `FileLoadRecord` per file. The
 * record is complete only when the result is ok.
 */
export function loadMeshConfigRecorded(
  files: ReadonlyMap<string, string>,
  cache: MeshDocumentCache,
  descriptors: DescriptorSources,
  record: Map<string, FileLoadRecord> | null,
): MeshConfigResult {
  const issues: MeshConfigIssue[] = [];
  const ses: Parsed<ServiceEntry>[] = [];
  const wes: Parsed<WorkloadEntry>[] = [];
  const vss: Parsed<VirtualService>[] = [];
  const drs: Parsed<DestinationRule>[] = [];
  const rlps: Parsed<RateLimitPolicy>[] = [];
  const pas: Parsed<PeerAuthentication>[] = [];
  const azps: AuthorizationPolicy[] = [];
  const ras: RequestAuthentication[] = [];
  const tels: Parsed<Telemetry>[] = [];
  const meshDocs: Parsed<TelemetryProviders>[] = [];
  const transcoders: Parsed<GrpcTranscoder>[] = [];
  const validations: Parsed<GrpcValidation>[] = [];
  const identities = new Map<string, DocContext>();

  for (const file of [...files.keys()].sort()) {
    const spans: DocumentSpan[] | null = record === null ? null : [];
    const list = cache.documents(files.get(file)!, spans);
    const reads: (DocRead | null)[] | null = record === null ? null : new Array<DocRead | null>(list.length).fill(null);
    if (record !== null) record.set(file, { spans: spans!.length === list.length ? spans : null, reads: reads! });
    for (let index = 0; index < list.length; index++) {
      const { doc, lineCounter, memo } = list[index]!;
      if (doc === null) continue; // an empty document (e.g. between two '---')
      const ctx = new DocContext(issues, file, index, doc, lineCounter);
      let read: DocRead | null = null;
      const memoKey = `${file}\0${index}`;
      if (memo.key === memoKey && memo.read !== null) {
        // Same text at the same place as in the previous load, and it was valid on its own.
        read = memo.read as DocRead;
        ctx.kind = read.meta.kind;
        ctx.name = read.meta.name;
      } else {
        if (doc.errors.length > 0) {
          for (const e of doc.errors) {
            // Positions through the document's (file-relative) line counter, not the chunk-relative e.linePos.
            const lp = e.pos !== undefined ? lineCounter.linePos(e.pos[0]) : e.linePos?.[0];
            issues.push({
              file, index, kind: null, name: null, path: '', message: `malformed YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
              line: lp?.line ?? null, col: lp?.col ?? null,
            });
          }
          continue;
        }
        const value = documentValue(doc);
        if (value === null || value === undefined) continue; // empty document (e.g. a trailing '---')
        read = readDocument(ctx, value);
        memo.key = memoKey;
        memo.read = ctx.errorCount === 0 ? read : null;
      }
      if (read === null) continue;
      const first = identities.get(read.id);
      if (first !== undefined) {
        const m = read.meta;
        ctx.err(['metadata', 'name'], `duplicate ${m.kind} ${m.namespace}/${m.name} (first defined in ${first.file}, document ${first.index})`);
        continue;
      }
      identities.set(read.id, ctx);
      if (reads !== null) reads[index] = read;
      switch (read.meta.kind) {
        case 'ServiceEntry': ses.push({ ctx, value: read.value as ServiceEntry }); break;
        case 'WorkloadEntry': wes.push({ ctx, value: read.value as WorkloadEntry }); break;
        case 'VirtualService': vss.push({ ctx, value: read.value as VirtualService }); break;
        case 'DestinationRule': drs.push({ ctx, value: read.value as DestinationRule }); break;
        case 'RateLimitPolicy': rlps.push({ ctx, value: read.value as RateLimitPolicy }); break;
        case 'PeerAuthentication': pas.push({ ctx, value: read.value as PeerAuthentication }); break;
        case 'AuthorizationPolicy': azps.push(read.value as AuthorizationPolicy); break;
        case 'RequestAuthentication': ras.push(read.value as RequestAuthentication); break;
        case 'Telemetry': tels.push({ ctx, value: read.value as Telemetry }); break;
        case 'MeshConfig': meshDocs.push({ ctx, value: read.value as TelemetryProviders }); break;
        case 'GrpcTranscoder': transcoders.push({ ctx, value: read.value as GrpcTranscoder }); break;
        case 'GrpcValidation': validations.push({ ctx, value: read.value as GrpcValidation }); break;
      }
    }
  }

  cache.sweep();
  checkReferences(ses, wes, vss, drs);
  checkRateLimitPolicies(rlps, wes.map((p) => p.value));
  checkPeerAuthentications(pas, wes.map((p) => p.value));
  checkMeshConfigDocuments(meshDocs);
  const telemetryProviders = meshDocs[0]?.value ?? DEFAULT_TELEMETRY_PROVIDERS;
  checkTelemetries(tels, telemetryProviders, wes.map((p) => p.value));
  const codec = resolveCodecDocuments(transcoders, validations, wes.map((p) => p.value), descriptors);
  if (issues.length > 0) return { ok: false, errors: issues };
  const telemetry = tels.length === 0 && meshDocs.length === 0 ? {} : { telemetries: tels.map((p) => p.value), telemetryProviders };
  return { ok: true, config: deepFreeze({ ...buildConfig(ses, wes, vss, drs), rateLimitPolicies: rlps.map((p) => p.value), peerAuthentications: pas.map((p) => p.value), authorizationPolicies: azps, requestAuthentications: ras, ...telemetry, ...codec }) };
}

/**
 * GrpcTranscoder/GrpcValidation cross-document work: one transcoder and one validation source per
 * WorkloadEntry, then the descriptor pass (compile/read, services and methods exist). Returns the
 * MeshConfig fields ({} when there are no such documents, so other configs are unchanged).
 */
function resolveCodecDocuments(
  transcoders: Parsed<GrpcTranscoder>[], validations: Parsed<GrpcValidation>[], workloads: readonly WorkloadEntry[], descriptors: DescriptorSources,
): { grpcTranscoders?: GrpcTranscoder[]; grpcValidations?: GrpcValidation[] } {
  checkOneSelectorPerWorkload([
    ...transcoders.map(({ ctx, value }) => ({ ctx, meta: value.meta, selector: value.selector, role: 'transcoding' })),
    ...transcoders.filter((t) => t.value.validation !== null).map(({ ctx, value }) => ({ ctx, meta: value.meta, selector: value.selector, role: 'validation' })),
    ...validations.map(({ ctx, value }) => ({ ctx, meta: value.meta, selector: value.selector, role: 'validation' })),
  ], workloads);
  const t = resolveGrpcTranscoders(transcoders, descriptors);
  const v = resolveGrpcValidations(validations, descriptors);
  descriptors.sweep();
  if (transcoders.length === 0 && validations.length === 0) return {};
  return { grpcTranscoders: t.map((p) => p.value), grpcValidations: v.map((p) => p.value) };
}

/** One document validated on its own (no cross-document rule applied yet). */
export interface DocRead {
  /** `kind/namespace/name`, unique across the config. */
  readonly id: string;
  readonly meta: ResourceMeta;
  readonly value: ServiceEntry | WorkloadEntry | VirtualService | DestinationRule | RateLimitPolicy | AuthorizationPolicy | PeerAuthentication | RequestAuthentication | Telemetry | TelemetryProviders | GrpcTranscoder | GrpcValidation;
}

/**
 * Validates one document on its own: the envelope and the kind's spec. Depends only on the
 * document, its file and its index, so a valid result is memoised across loads for unchanged text.
 */
export function readDocument(ctx: DocContext, value: unknown): DocRead | null {
  if (!isPlainObject(value)) {
    ctx.err([], 'a document must be a mapping with apiVersion, kind, metadata and spec');
    return null;
  }
  const kind = typeof value['kind'] === 'string' ? value['kind'] : null;
  const md = isPlainObject(value['metadata']) ? value['metadata'] : null;
  ctx.kind = kind;
  ctx.name = md !== null && typeof md['name'] === 'string' ? md['name'] : null;
  ctx.object(value, [], ['apiVersion', 'kind', 'metadata', 'spec', 'status']);

  let kindOk = false;
  if (kind === null) ctx.err(['kind'], value['kind'] === undefined ? 'is required' : 'expected a string');
  else if (!(KINDS as readonly string[]).includes(kind)) ctx.err(['kind'], `unknown kind '${kind}'; supported: ${KINDS.join(', ')}`);
  else kindOk = true;
  const apiVersion = ctx.string(value, 'apiVersion', [], true);
  const versions = kind === 'RateLimitPolicy' || kind === 'MeshConfig' || kind === 'GrpcTranscoder' || kind === 'GrpcValidation' ? [REMORA_API_VERSION]
    : kind === 'AuthorizationPolicy' || kind === 'PeerAuthentication' || kind === 'RequestAuthentication' ? SECURITY_API_VERSIONS
      : kind === 'Telemetry' ? TELEMETRY_API_VERSIONS : NETWORKING_API_VERSIONS;
  if (apiVersion !== undefined && !versions.includes(apiVersion)) {
    ctx.err(['apiVersion'], `unknown apiVersion '${apiVersion}'${kindOk ? ` for ${kind}` : ''}; expected one of ${versions.join(', ')}`);
  }

  const mp: Path = ['metadata'];
  let name: string | undefined;
  let namespace = 'default';
  if (value['metadata'] === undefined || value['metadata'] === null) ctx.err(mp, 'is required');
  else {
    const m = ctx.object(value['metadata'], mp, METADATA_FIELDS);
    if (m !== null) {
      name = ctx.string(m, 'name', mp, true);
      if (name !== undefined && (name.length > 253 || !NAME_RE.test(name))) ctx.err([...mp, 'name'], `invalid name '${name}'; expected a lower-case DNS-1123 name`);
      const ns = ctx.string(m, 'namespace', mp);
      if (ns !== undefined) {
        if (ns.length > 63 || !DNS_LABEL_RE.test(ns)) ctx.err([...mp, 'namespace'], `invalid namespace '${ns}'; expected a lower-case DNS-1123 label`);
        namespace = ns;
      }
      ctx.labels(m, 'labels', mp);
    }
  }
  if (value['spec'] === undefined || value['spec'] === null) ctx.err(['spec'], 'is required');
  if (!kindOk || name === undefined || value['spec'] === undefined || value['spec'] === null) return null;

  const meta: ResourceMeta = { kind: kind as MeshKind, name, namespace, file: ctx.file, index: ctx.index };
  let read: DocRead['value'] | null = null;
  switch (kind as MeshKind) {
    case 'ServiceEntry': read = readServiceEntry(ctx, meta, value['spec']); break;
    case 'WorkloadEntry': read = readWorkloadEntry(ctx, meta, value['spec']); break;
    case 'VirtualService': read = readVirtualService(ctx, meta, value['spec']); break;
    case 'DestinationRule': read = readDestinationRule(ctx, meta, value['spec']); break;
    case 'RateLimitPolicy': read = readRateLimitPolicy(ctx, meta, value['spec']); break;
    case 'AuthorizationPolicy': read = readAuthorizationPolicy(ctx, meta, value['spec']); break;
    case 'PeerAuthentication': read = readPeerAuthentication(ctx, meta, value['spec']); break;
    case 'RequestAuthentication': read = readRequestAuthentication(ctx, meta, value['spec']); break;
    case 'Telemetry': read = readTelemetry(ctx, meta, value['spec']); break;
    case 'MeshConfig': read = readMeshConfigDocument(ctx, meta, value['spec']); break;
    case 'GrpcTranscoder': read = readGrpcTranscoder(ctx, meta, value['spec']); break;
    case 'GrpcValidation': read = readGrpcValidation(ctx, meta, value['spec']); break;
  }
  return read === null ? null : { id: `${kind}/${namespace}/${name}`, meta, value: read };
}



/** Does `labels` contain every key/value of `selector`? */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

function checkReferences(ses: Parsed<ServiceEntry>[], wes: Parsed<WorkloadEntry>[], vss: Parsed<VirtualService>[], drs: Parsed<DestinationRule>[]): void {
  const services = new Map<string, ServiceEntry>();
  // Only entries with a host-name address can violate the STATIC rule below: scan just those.
  const namedWes = wes.filter(({ value: we }) => !isIpLiteral(we.address));
  for (const { ctx, value: se } of ses) {
    se.hosts.forEach((h, i) => {
      const prev = services.get(h);
      if (prev !== undefined) ctx.err(['spec', 'hosts', i], `host '${h}' is already declared by ServiceEntry ${prev.meta.namespace}/${prev.meta.name}`);
      else services.set(h, se);
    });
    if (se.workloadSelector !== null && se.resolution === 'STATIC') {
      for (const { value: we } of namedWes) {
        if (we.meta.namespace === se.meta.namespace && labelsMatch(se.workloadSelector, we.labels)) {
          ctx.err(['spec', 'workloadSelector'], `selects WorkloadEntry ${we.meta.namespace}/${we.meta.name} whose address '${we.address}' is not an IP (resolution STATIC needs IP endpoints)`);
        }
      }
    }
  }
  const rules = new Map<string, DestinationRule>();
  for (const { ctx, value: dr } of drs) {
    if (!services.has(dr.host)) ctx.err(['spec', 'host'], `no ServiceEntry declares host '${dr.host}'`);
    const prev = rules.get(dr.host);
    if (prev !== undefined) ctx.err(['spec', 'host'], `host '${dr.host}' already has DestinationRule ${prev.meta.namespace}/${prev.meta.name}`);
    else rules.set(dr.host, dr);
  }
  const bound = new Map<string, VirtualService>();
  for (const { ctx, value: vs } of vss) checkVirtualService(ctx, vs, services, rules, bound);
}

/**
 * The cross-document rules of one VirtualService: its hosts are declared (with an http port) and
 * not bound to another VirtualService (`bound` collects the bindings), and every route destination
 * names a declared host, an existing http port and a defined subset.
 */
export function checkVirtualService(
  ctx: DocContext, vs: VirtualService, services: ReadonlyMap<string, ServiceEntry>, rules: ReadonlyMap<string, DestinationRule>, bound: Map<string, VirtualService>,
): void {
  vs.hosts.forEach((h, i) => {
    if (!services.has(h)) ctx.err(['spec', 'hosts', i], `no ServiceEntry declares host '${h}'`);
    else if (!services.get(h)!.ports.some((p) => p.protocol !== 'TCP')) ctx.err(['spec', 'hosts', i], `host '${h}' has no GRPC, HTTP or HTTP2 port for http routes`);
    const prev = bound.get(h);
    if (prev !== undefined) ctx.err(['spec', 'hosts', i], `host '${h}' is already bound to VirtualService ${prev.meta.namespace}/${prev.meta.name}`);
    else bound.set(h, vs);
  });
  vs.http.forEach((r, hi) => {
    r.route.forEach((d, ri) => {
      const dp: Path = ['spec', 'http', hi, 'route', ri, 'destination'];
      const se = services.get(d.host);
      if (se === undefined) {
        ctx.err([...dp, 'host'], `no ServiceEntry declares host '${d.host}'`);
        return;
      }
      const httpPorts = se.ports.filter((p) => p.protocol !== 'TCP');
      if (d.port !== null) {
        const p = se.ports.find((x) => x.number === d.port);
        if (p === undefined) ctx.err([...dp, 'port', 'number'], `host '${d.host}' has no port ${d.port} (ports: ${se.ports.map((x) => x.number).join(', ')})`);
        else if (p.protocol === 'TCP') ctx.err([...dp, 'port', 'number'], `port ${d.port} of '${d.host}' is TCP; http routes need a GRPC, HTTP or HTTP2 port`);
      } else if (httpPorts.length === 0) {
        ctx.err([...dp, 'host'], `host '${d.host}' has no GRPC, HTTP or HTTP2 port`);
      } else if (httpPorts.length > 1 && !vs.hosts.includes(d.host)) {
        ctx.err([...dp, 'port'], `is required: host '${d.host}' has more than one HTTP port`);
      }
      if (d.subset !== null) {
        const dr = rules.get(d.host);
        if (dr === undefined) ctx.err([...dp, 'subset'], `subset '${d.subset}' is not defined: no DestinationRule for host '${d.host}'`);
        else if (!dr.subsets.some((s) => s.name === d.subset)) {
          ctx.err([...dp, 'subset'], `subset '${d.subset}' is not defined by DestinationRule ${dr.meta.namespace}/${dr.meta.name} (subsets: ${dr.subsets.map((s) => s.name).join(', ') || 'none'})`);
        }
      }
    });
  });
}

function isIpLiteral(a: string): boolean {
  return isIP(a) !== 0;
}

/** A Map that refuses mutation after construction (the indexes of a frozen MeshConfig). */
class FrozenMap<K, V> extends Map<K, V> {
  private sealed = false;
  constructor(entries: Iterable<readonly [K, V]>) {
    super(entries);
    this.sealed = true;
    Object.freeze(this);
  }
  override set(k: K, v: V): this {
    if (this.sealed) throw new TypeError('MeshConfig is immutable');
    return super.set(k, v);
  }
  override delete(): boolean { throw new TypeError('MeshConfig is immutable'); }
  override clear(): void { throw new TypeError('MeshConfig is immutable'); }
}

/**
 * `config` with some VirtualServices replaced (each `[old, new]` pair keeps the old one's hosts and
 * place): the same lists and indexes a cold load of the edited documents builds, sharing every
 * other value with `config`. For `MeshConfigLoader`'s incremental path.
 */
export function replaceVirtualServices(config: MeshConfig, replaced: readonly (readonly [VirtualService, VirtualService])[]): MeshConfig {
  const list = config.virtualServices.slice();
  const byHost = new Map(config.virtualServiceByHost);
  for (let i = 0; i < replaced.length; i++) {
    const [before, after] = replaced[i]!;
    const at = list.indexOf(before);
    if (at < 0) throw new Error(`VirtualService ${before.meta.namespace}/${before.meta.name} is not in the config`);
    list[at] = after;
    for (let h = 0; h < after.hosts.length; h++) byHost.set(after.hosts[h]!, after);
  }
  return deepFreeze({ ...config, virtualServices: list, virtualServiceByHost: new FrozenMap(byHost) });
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v) && !Buffer.isBuffer(v) && !(v instanceof Map)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

function buildConfig(ses: Parsed<ServiceEntry>[], wes: Parsed<WorkloadEntry>[], vss: Parsed<VirtualService>[], drs: Parsed<DestinationRule>[]): MeshConfig {
  const serviceByHost = new Map<string, ServiceEntry>();
  for (const { value } of ses) for (const h of value.hosts) serviceByHost.set(h, value);
  const virtualServiceByHost = new Map<string, VirtualService>();
  for (const { value } of vss) for (const h of value.hosts) virtualServiceByHost.set(h, value);
  const destinationRuleByHost = new Map<string, DestinationRule>();
  for (const { value } of drs) destinationRuleByHost.set(value.host, value);
  const workloadEntryIndex = new Map<string, WorkloadEntry[]>();
  const index = (key: string, we: WorkloadEntry) => {
    const list = workloadEntryIndex.get(key);
    if (list === undefined) workloadEntryIndex.set(key, [we]);
    else list.push(we);
  };
  for (const { value: we } of wes) {
    index(workloadIndexKey(we.meta.namespace), we);
    for (const k of Object.keys(we.labels)) index(workloadIndexKey(we.meta.namespace, k, we.labels[k]), we);
  }
  const workloadEntryByName = new Map<string, WorkloadEntry>();
  for (const { value: we } of wes) workloadEntryByName.set(`${we.meta.namespace}/${we.meta.name}`, we);
  const selectingServiceIndex = new Map<string, ServiceEntry[]>();
  for (const { value: se } of ses) {
    if (se.workloadSelector === null) continue;
    const keys = Object.keys(se.workloadSelector).sort();
    const key = keys.length === 0 ? workloadIndexKey(se.meta.namespace) : workloadIndexKey(se.meta.namespace, keys[0], se.workloadSelector[keys[0]!]);
    const list = selectingServiceIndex.get(key);
    if (list === undefined) selectingServiceIndex.set(key, [se]);
    else list.push(se);
  }
  return deepFreeze({
    serviceEntries: ses.map((p) => p.value),
    workloadEntries: wes.map((p) => p.value),
    virtualServices: vss.map((p) => p.value),
    destinationRules: drs.map((p) => p.value),
    serviceByHost: new FrozenMap(serviceByHost),
    virtualServiceByHost: new FrozenMap(virtualServiceByHost),
    destinationRuleByHost: new FrozenMap(destinationRuleByHost),
    workloadEntryIndex: new FrozenMap(workloadEntryIndex),
    workloadEntryByName: new FrozenMap(workloadEntryByName),
    selectingServiceIndex: new FrozenMap(selectingServiceIndex),
  });
}
