/**
 * Validates `remora.dev/v1alpha1` `GrpcValidation` documents (schema-validated calls: the selected
 * workloads' inbound sidecars decode each request message of the chosen services/methods and
 * enforce its protovalidate `buf.validate` rules before the app sees it) into `GrpcValidation`. The
 * descriptor sources are GrpcTranscoder's (grpc-transcoder.ts); so is the descriptor pass that
 * checks the named services and methods exist. Translation (the `remora.filters.http.grpc_validation`
 * filter) is in translate/codec-filters.ts.
 */
import type { FileRegistry } from '@bufbuild/protobuf';
import type { DescriptorSources } from '../sources/descriptor-sources';
import type { DocContext, Path } from './document-context';
import {
  checkMethodsExist, checkServicesExist, readDescriptorSource, readMethodNames, readServiceNames, readWorkloadSelector,
  resolveCodecDescriptors, type DescriptorSource,
} from './grpc-transcoder';
import type { Labels, ResourceMeta } from './model';

export interface GrpcValidation {
  readonly meta: ResourceMeta;
  /** `workloadSelector.labels` (or `matchLabels`); {} = every workload of the namespace. */
  readonly selector: Labels;
  readonly descriptors: DescriptorSource;
  /** Services whose every method is validated. */
  readonly services: readonly string[];
  /** Single methods, `pkg.Service/Method`. At least one service or method is given. */
  readonly methods: readonly string[];
  /** `failFast`: stop at the first violation; null = not set (false). */
  readonly failFast: boolean | null;
  /** `maxMessageBytes`; null = the filter's default (4 MiB). */
  readonly maxMessageBytes: number | null;
  /** The compiled/read FileDescriptorSet (set by the loader's descriptor pass). */
  readonly descriptorSet: Buffer | null;
}

/** `spec` of a GrpcValidation document (descriptors not resolved yet). */
export function readGrpcValidation(ctx: DocContext, meta: ResourceMeta, v: unknown): GrpcValidation | null {
  const sp: Path = ['spec'];
  const spec = ctx.object(v, sp, ['workloadSelector', 'descriptors', 'services', 'methods', 'failFast', 'maxMessageBytes']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const selector = readWorkloadSelector(ctx, spec);
  const descriptors = readDescriptorSource(ctx, spec);
  const services = readServiceNames(ctx, spec, 'services', sp, false);
  const methods = readMethodNames(ctx, spec, 'methods', sp);
  if (services.length === 0 && methods.length === 0 && ctx.errorCount === before) ctx.err(sp, 'at least one of services or methods is required');
  const failFast = ctx.boolean(spec, 'failFast', sp) ?? null;
  const maxMessageBytes = ctx.integer(spec, 'maxMessageBytes', sp, 1, 0xffffffff) ?? null;
  if (ctx.errorCount !== before || descriptors === null) return null;
  return { meta, selector, descriptors, services, methods, failFast, maxMessageBytes, descriptorSet: null };
}

/** The validation pass: descriptors resolved, services and methods present. */
export function resolveGrpcValidations(
  docs: readonly { readonly ctx: DocContext; readonly value: GrpcValidation }[],
  sources: DescriptorSources,
): { readonly ctx: DocContext; readonly value: GrpcValidation }[] {
  return resolveCodecDescriptors(docs, sources, (v: GrpcValidation, registry: FileRegistry, ctx: DocContext) => {
    checkServicesExist(ctx, registry, v.services, ['spec', 'services']);
    checkMethodsExist(ctx, registry, v.methods, ['spec', 'methods']);
  });
}
