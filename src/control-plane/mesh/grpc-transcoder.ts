/**
 * Validates `remora.dev/v1alpha1` `GrpcTranscoder` documents (HTTP/JSON ⇄ gRPC transcoding on the
 * selected workloads' inbound sidecars; Istio only reaches Envoy's transcoder through raw
 * EnvoyFilter patches) into `GrpcTranscoder`: the workload selector, the services to transcode, the
 * descriptor source (`.proto` files with import paths, compiled by the control plane, or a
 * FileDescriptorSet file), the Envoy `GrpcJsonTranscoder` options in camelCase, and an optional
 * `validation` block that also turns on schema validation for some of those services or methods.
 * Also owns the `descriptors` reader shared with GrpcValidation, the descriptor post-pass that
 * compiles sources on every load (`resolveCodecDescriptors`: errors name the .proto `file:line`;
 * cached while the files are unchanged) and the rule that at most one transcoder and one
 * validation source select a WorkloadEntry. Translation: translate/codec-filters.ts; format:
 * docs/mesh-config.md "GrpcTranscoder and GrpcValidation".
 */
import * as path from 'node:path';
import type { FileRegistry } from '@bufbuild/protobuf';
import type { DescriptorSources, DescriptorSourceSpec } from '../sources/descriptor-sources';
import { present, type DocContext, type Path } from './document-context';
import type { Labels, ResourceMeta, WorkloadEntry } from './model';

/** Where a document's descriptors come from (paths absolute). */
export type DescriptorSource = DescriptorSourceSpec;

/** Envoy `GrpcJsonTranscoder.PrintOptions` in camelCase; null = not set (Envoy default false). */
export interface TranscoderPrintOptions {
  readonly addWhitespace: boolean | null;
  readonly alwaysPrintPrimitiveFields: boolean | null;
  readonly alwaysPrintEnumsAsInts: boolean | null;
  readonly preserveProtoFieldNames: boolean | null;
  readonly streamNewlineDelimited: boolean | null;
}

/** Envoy `GrpcJsonTranscoder.RequestValidationOptions`; null = not set. */
export interface TranscoderRequestValidation {
  readonly rejectUnknownMethod: boolean | null;
  readonly rejectUnknownQueryParameters: boolean | null;
  readonly rejectBindingBodyFieldCollisions: boolean | null;
}

export type UrlUnescapeSpec = 'ALL_CHARACTERS_EXCEPT_RESERVED' | 'ALL_CHARACTERS_EXCEPT_SLASH' | 'ALL_CHARACTERS';

/** `spec.options`: each field null when not given (the filter's default applies). */
export interface TranscoderOptions {
  readonly printOptions: TranscoderPrintOptions | null;
  readonly matchIncomingRequestRoute: boolean | null;
  readonly ignoredQueryParameters: readonly string[];
  readonly autoMapping: boolean | null;
  readonly ignoreUnknownQueryParameters: boolean | null;
  readonly convertGrpcStatus: boolean | null;
  readonly urlUnescapeSpec: UrlUnescapeSpec | null;
  readonly queryParamUnescapePlus: boolean | null;
  readonly matchUnregisteredCustomVerb: boolean | null;
  readonly requestValidationOptions: TranscoderRequestValidation | null;
  readonly caseInsensitiveEnumParsing: boolean | null;
  readonly maxRequestBodySize: number | null;
  readonly maxResponseBodySize: number | null;
}

/** Which calls are validated: whole services and single methods (`pkg.Service/Method`). */
export interface ValidationSelection {
  readonly services: readonly string[];
  readonly methods: readonly string[];
}

export interface GrpcTranscoder {
  readonly meta: ResourceMeta;
  /** `workloadSelector.labels` (or `matchLabels`); {} = every workload of the namespace. */
  readonly selector: Labels;
  readonly services: readonly string[];
  readonly descriptors: DescriptorSource;
  readonly options: TranscoderOptions;
  /** `validation`: also validate these calls (the grpc_validation filter); null = no validation. */
  readonly validation: ValidationSelection | null;
  /** The compiled/read FileDescriptorSet (set by the loader's descriptor pass). */
  readonly descriptorSet: Buffer | null;
}

const PRINT_FIELDS = ['addWhitespace', 'alwaysPrintPrimitiveFields', 'alwaysPrintEnumsAsInts', 'preserveProtoFieldNames', 'streamNewlineDelimited'] as const;
const REQUEST_VALIDATION_FIELDS = ['rejectUnknownMethod', 'rejectUnknownQueryParameters', 'rejectBindingBodyFieldCollisions'] as const;
const BOOL_OPTIONS = [
  'matchIncomingRequestRoute', 'autoMapping', 'ignoreUnknownQueryParameters', 'convertGrpcStatus', 'queryParamUnescapePlus',
  'matchUnregisteredCustomVerb', 'caseInsensitiveEnumParsing',
] as const;
const UNESCAPE_SPECS: readonly UrlUnescapeSpec[] = ['ALL_CHARACTERS_EXCEPT_RESERVED', 'ALL_CHARACTERS_EXCEPT_SLASH', 'ALL_CHARACTERS'];
const SERVICE_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$|^[A-Za-z_][A-Za-z0-9_]*$/;
const METHOD_RE = /^\/?([A-Za-z_][A-Za-z0-9_.]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;
const MAX_UINT32 = 0xffffffff;


/** `workloadSelector: {labels}` (Istio's WorkloadSelector) or `{matchLabels}`; {} when absent. */
export function readWorkloadSelector(ctx: DocContext, spec: Record<string, unknown>): Labels {
  const wp: Path = ['spec', 'workloadSelector'];
  if (!present(spec, 'workloadSelector')) return {};
  const w = ctx.object(spec['workloadSelector'], wp, ['labels', 'matchLabels']);
  if (w === null) return {};
  if (present(w, 'labels') && present(w, 'matchLabels')) {
    ctx.err(wp, 'only one of labels and matchLabels may be set');
    return {};
  }
  return ctx.labels(w, present(w, 'matchLabels') ? 'matchLabels' : 'labels', wp);
}

/**
 * `descriptors`: exactly one of `protoFiles` (+ optional `importPaths`), `descriptorSet`, or
 * `reflection: true` (only where `allowReflection`: GrpcTranscoder; the sidecar fetches the
 * descriptors from the app). Relative paths are resolved against the directory of the document's file.
 */
export function readDescriptorSource(ctx: DocContext, spec: Record<string, unknown>, allowReflection = false): DescriptorSource | null {
  const dp: Path = ['spec', 'descriptors'];
  if (!present(spec, 'descriptors')) {
    ctx.err(dp, 'is required (protoFiles, descriptorSet or reflection)');
    return null;
  }
  const d = ctx.object(spec['descriptors'], dp, ['protoFiles', 'importPaths', 'descriptorSet', 'reflection']);
  if (d === null) return null;
  const given = ['protoFiles', 'descriptorSet', 'reflection'].filter((k) => present(d, k));
  if (given.length !== 1) {
    ctx.err(dp, given.length === 0 ? 'exactly one of protoFiles, descriptorSet or reflection is required' : `only one of protoFiles, descriptorSet or reflection may be set (got ${given.join(', ')})`);
    return null;
  }
  const base = path.dirname(ctx.file);
  const abs = (p: string) => path.resolve(base, p);
  if (given[0] === 'reflection') {
    const r = ctx.boolean(d, 'reflection', dp);
    if (r === undefined) return null;
    if (!r) ctx.err([...dp, 'reflection'], 'must be true when set');
    else if (!allowReflection) ctx.err([...dp, 'reflection'], 'server reflection is supported on GrpcTranscoder only (schema validation needs protoFiles or descriptorSet)');
    else {
      if (present(d, 'importPaths')) ctx.err([...dp, 'importPaths'], 'applies only to protoFiles');
      return { kind: 'reflection' };
    }
    return null;
  }
  if (given[0] === 'descriptorSet') {
    if (present(d, 'importPaths')) ctx.err([...dp, 'importPaths'], 'applies only to protoFiles');
    const p = ctx.string(d, 'descriptorSet', dp, true);
    return p === undefined || p === '' ? null : { kind: 'descriptorSet', path: abs(p) };
  }
  const before = ctx.errorCount;
  const files = ctx.stringList(d, 'protoFiles', dp, true);
  files.forEach((f, i) => { if (!f.endsWith('.proto')) ctx.err([...dp, 'protoFiles', i], `expected a .proto file, got '${f}'`); });
  const imports = ctx.stringList(d, 'importPaths', dp);
  if (ctx.errorCount !== before) return null;
  return { kind: 'protoFiles', protoFiles: files.map(abs), importPaths: imports.map(abs) };
}

/** A list of fully-qualified service names at `spec.<key>`. */
export function readServiceNames(ctx: DocContext, o: Record<string, unknown>, key: string, p: Path, required: boolean): string[] {
  const list = ctx.stringList(o, key, p, required);
  const seen = new Set<string>();
  list.forEach((s, i) => {
    if (!SERVICE_RE.test(s)) ctx.err([...p, key, i], `invalid service name '${s}'; expected a fully-qualified name like 'pkg.v1.Service'`);
    else if (seen.has(s)) ctx.err([...p, key, i], `duplicate service '${s}'`);
    seen.add(s);
  });
  return list;
}

/** A list of `pkg.Service/Method` names (a leading `/` accepted and dropped). */
export function readMethodNames(ctx: DocContext, o: Record<string, unknown>, key: string, p: Path): string[] {
  const out: string[] = [];
  ctx.stringList(o, key, p).forEach((m, i) => {
    const r = METHOD_RE.exec(m);
    if (r === null) ctx.err([...p, key, i], `invalid method '${m}'; expected 'pkg.Service/Method'`);
    else out.push(`${r[1]}/${r[2]}`);
  });
  return out;
}

function readBools<K extends string>(ctx: DocContext, o: Record<string, unknown>, p: Path, keys: readonly K[]): Record<K, boolean | null> {
  const out = {} as Record<K, boolean | null>;
  for (const k of keys) out[k] = ctx.boolean(o, k, p) ?? null;
  return out;
}

function readOptions(ctx: DocContext, v: unknown, p: Path): TranscoderOptions | null {
  const flatRv = REQUEST_VALIDATION_FIELDS as readonly string[];
  const o = ctx.object(v, p, [
    'printOptions', ...BOOL_OPTIONS, 'ignoredQueryParameters', 'urlUnescapeSpec', 'requestValidationOptions',
    'maxRequestBodySize', 'maxResponseBodySize', ...flatRv,
  ]);
  if (o === null) return null;
  let printOptions: TranscoderPrintOptions | null = null;
  if (present(o, 'printOptions')) {
    const pp = [...p, 'printOptions'];
    const po = ctx.object(o['printOptions'], pp, PRINT_FIELDS);
    if (po !== null) printOptions = readBools(ctx, po, pp, PRINT_FIELDS);
  }
  let requestValidationOptions: TranscoderRequestValidation | null = null;
  const flat = flatRv.filter((k) => present(o, k));
  if (present(o, 'requestValidationOptions')) {
    const rp = [...p, 'requestValidationOptions'];
    if (flat.length > 0) ctx.err([...p, flat[0]!], 'set it inside requestValidationOptions (both forms were given)');
    const ro = ctx.object(o['requestValidationOptions'], rp, REQUEST_VALIDATION_FIELDS);
    if (ro !== null) requestValidationOptions = readBools(ctx, ro, rp, REQUEST_VALIDATION_FIELDS);
  } else if (flat.length > 0) {
    requestValidationOptions = readBools(ctx, o, p, REQUEST_VALIDATION_FIELDS);
  }
  let urlUnescapeSpec: UrlUnescapeSpec | null = null;
  const u = ctx.string(o, 'urlUnescapeSpec', p);
  if (u !== undefined) {
    if ((UNESCAPE_SPECS as readonly string[]).includes(u)) urlUnescapeSpec = u as UrlUnescapeSpec;
    else ctx.err([...p, 'urlUnescapeSpec'], `unknown value '${u}'; expected one of ${UNESCAPE_SPECS.join(', ')}`);
  }
  return {
    printOptions,
    ...readBools(ctx, o, p, BOOL_OPTIONS),
    ignoredQueryParameters: ctx.stringList(o, 'ignoredQueryParameters', p),
    urlUnescapeSpec,
    requestValidationOptions,
    maxRequestBodySize: ctx.integer(o, 'maxRequestBodySize', p, 1, MAX_UINT32) ?? null,
    maxResponseBodySize: ctx.integer(o, 'maxResponseBodySize', p, 1, MAX_UINT32) ?? null,
  };
}

const NO_OPTIONS: TranscoderOptions = {
  printOptions: null, matchIncomingRequestRoute: null, ignoredQueryParameters: [], autoMapping: null, ignoreUnknownQueryParameters: null,
  convertGrpcStatus: null, urlUnescapeSpec: null, queryParamUnescapePlus: null, matchUnregisteredCustomVerb: null,
  requestValidationOptions: null, caseInsensitiveEnumParsing: null, maxRequestBodySize: null, maxResponseBodySize: null,
};

/** `spec` of a GrpcTranscoder document (descriptors not resolved yet: `descriptorSet` null). */
export function readGrpcTranscoder(ctx: DocContext, meta: ResourceMeta, v: unknown): GrpcTranscoder | null {
  const sp: Path = ['spec'];
  const spec = ctx.object(v, sp, ['workloadSelector', 'services', 'descriptors', 'options', 'validation']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const selector = readWorkloadSelector(ctx, spec);
  const services = readServiceNames(ctx, spec, 'services', sp, true);
  const descriptors = readDescriptorSource(ctx, spec, true);
  const options = present(spec, 'options') ? readOptions(ctx, spec['options'], [...sp, 'options']) : NO_OPTIONS;
  let validation: ValidationSelection | null = null;
  if (present(spec, 'validation')) {
    const vp: Path = [...sp, 'validation'];
    const vo = ctx.object(spec['validation'], vp, ['services', 'methods']);
    if (vo !== null) {
      const vs = readServiceNames(ctx, vo, 'services', vp, false);
      const vm = readMethodNames(ctx, vo, 'methods', vp);
      if (vs.length === 0 && vm.length === 0) ctx.err(vp, 'at least one of services or methods is required');
      vs.forEach((s, i) => { if (!services.includes(s)) ctx.err([...vp, 'services', i], `'${s}' is not one of spec.services`); });
      vm.forEach((m, i) => { if (!services.includes(m.split('/')[0]!)) ctx.err([...vp, 'methods', i], `the service of '${m}' is not one of spec.services`); });
      validation = { services: vs, methods: vm };
      if (descriptors !== null && descriptors.kind === 'reflection') ctx.err(vp, 'needs protoFiles or descriptorSet descriptors (schema validation with server reflection is not supported)');
    }
  }
  if (ctx.errorCount !== before || descriptors === null || options === null) return null;
  return { meta, selector, services, descriptors, options, validation, descriptorSet: null };
}

/** Anything with a selector whose descriptors need resolving (GrpcTranscoder, GrpcValidation). */
export interface CodecDocument {
  readonly meta: ResourceMeta;
  readonly selector: Labels;
  readonly descriptors: DescriptorSource;
  readonly descriptorSet: Buffer | null;
}

/**
 * The loader's descriptor pass: resolves each document's descriptors through `sources` (compiling
 * `.proto` files; errors as `file:line: reason` at `spec.descriptors…`), then checks that the named
 * services (`servicesOf`) and methods (`methodsOf`) exist. Returns the documents with
 * `descriptorSet` set, in order (documents with errors are left out; the load fails anyway).
 */
export function resolveCodecDescriptors<T extends CodecDocument>(
  docs: readonly { readonly ctx: DocContext; readonly value: T }[],
  sources: DescriptorSources,
  check: (value: T, registry: FileRegistry, ctx: DocContext) => void,
): { readonly ctx: DocContext; readonly value: T }[] {
  const out: { ctx: DocContext; value: T }[] = [];
  for (const { ctx, value } of docs) {
    const d = value.descriptors;
    // Fetched by the sidecar from the app: nothing to compile or check here.
    if (d.kind === 'reflection') {
      out.push({ ctx, value });
      continue;
    }
    const r = sources.resolve(d);
    if (!r.ok) {
      const at: Path = d.kind === 'descriptorSet' ? ['spec', 'descriptors', 'descriptorSet']
        : ['spec', 'descriptors', 'protoFiles', Math.max(0, r.error.file === null ? 0 : d.protoFiles.indexOf(r.error.file))];
      const where = r.error.file === null ? '' : `${r.error.file}${r.error.line === null ? '' : `:${r.error.line}`}: `;
      ctx.err(at, `${where}${r.error.message}`);
      continue;
    }
    const before = ctx.errorCount;
    check(value, r.registry, ctx);
    if (ctx.errorCount === before) out.push({ ctx, value: { ...value, descriptorSet: r.descriptorSet } });
  }
  return out;
}

/** Records an issue for every service in `names` (at `spec.<key>[i]`) missing from `registry`. */
export function checkServicesExist(ctx: DocContext, registry: FileRegistry, names: readonly string[], p: Path): void {
  names.forEach((s, i) => {
    if (registry.getService(s) === undefined) {
      const known = [...registry].filter((d) => d.kind === 'service').map((d) => d.typeName);
      ctx.err([...p, i], `service '${s}' is not in the descriptors (services: ${known.join(', ') || 'none'})`);
    }
  });
}

/** Records an issue for every `pkg.Service/Method` in `names` missing from `registry`. */
export function checkMethodsExist(ctx: DocContext, registry: FileRegistry, names: readonly string[], p: Path): void {
  names.forEach((m, i) => {
    const [svc, method] = m.split('/') as [string, string];
    const s = registry.getService(svc);
    if (s === undefined) ctx.err([...p, i], `service '${svc}' is not in the descriptors`);
    else if (!s.methods.some((x) => x.name === method)) ctx.err([...p, i], `service '${svc}' has no method '${method}' (methods: ${s.methods.map((x) => x.name).join(', ')})`);
  });
}

/** The transcoder pass: descriptors plus `services` and `validation` names exist. */
export function resolveGrpcTranscoders(
  docs: readonly { readonly ctx: DocContext; readonly value: GrpcTranscoder }[],
  sources: DescriptorSources,
): { readonly ctx: DocContext; readonly value: GrpcTranscoder }[] {
  return resolveCodecDescriptors(docs, sources, (t, registry, ctx) => {
    checkServicesExist(ctx, registry, t.services, ['spec', 'services']);
    if (t.validation !== null) checkMethodsExist(ctx, registry, t.validation.methods, ['spec', 'validation', 'methods']);
  });
}

function selects(selector: Labels, labels: Labels): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * At most one document of each group selects a WorkloadEntry: `groups` are lists of
 * (document, what) where `what` names the role (e.g. "GrpcTranscoder", "validation").
 */
export function checkOneSelectorPerWorkload(
  entries: readonly { readonly ctx: DocContext; readonly meta: ResourceMeta; readonly selector: Labels; readonly role: string }[],
  workloads: readonly WorkloadEntry[],
): void {
  for (let i = 0; i < entries.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = entries[j]!;
      const b = entries[i]!;
      if (a.role !== b.role || a.meta.namespace !== b.meta.namespace) continue;
      const both = workloads.find((we) => we.meta.namespace === a.meta.namespace && selects(a.selector, we.labels) && selects(b.selector, we.labels));
      if (both !== undefined) {
        b.ctx.err(['spec', 'workloadSelector'], `WorkloadEntry ${both.meta.namespace}/${both.meta.name} is already selected for ${a.role} by ${a.meta.kind} ${a.meta.namespace}/${a.meta.name}; at most one may apply`);
      }
    }
  }
}
