/**
 * The scope rules Istio's selector-based kinds share (PeerAuthentication, Telemetry): at most one
 * namespace-wide document (no selector) per namespace, and at most one document whose selector
 * matches a given WorkloadEntry. Istio keeps the oldest; Remora has no creation times and rejects
 * the later document, naming the earlier one.
 */
import { present, type DocContext, type Path } from './document-context';
import type { Labels, ResourceMeta, WorkloadEntry } from './model';

/**
 * `selector.matchLabels` of a spec object at `path` (Istio's WorkloadSelector); null without a
 * selector. An empty `matchLabels` is, per `empty`: an error naming what to omit instead
 * (`{ error: 'a namespace-wide policy' }`), the same as no selector (`'namespace'`), or kept as
 * `{}` (selects every workload, `'all'`).
 */
export function readSelector(ctx: DocContext, spec: Record<string, unknown>, path: Path, empty: { readonly error: string } | 'namespace' | 'all'): Labels | null {
  if (!present(spec, 'selector')) return null;
  const sp = [...path, 'selector'];
  const s = ctx.object(spec['selector'], sp, ['matchLabels']);
  if (s === null) return null;
  const labels = ctx.labels(s, 'matchLabels', sp);
  if (Object.keys(labels).length > 0 || empty === 'all') return labels;
  if (empty === 'namespace') return null;
  ctx.err([...sp, 'matchLabels'], `must not be empty (omit selector for ${empty.error})`);
  return labels;
}

/** Whether every label of `selector` is in `labels` with the same value. */
export function selects(selector: Readonly<Labels>, labels: Readonly<Labels>): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

interface Scoped {
  readonly meta: ResourceMeta;
  readonly selector: Readonly<Labels> | null;
}

/**
 * Records the conflicts among `docs` (in file order) on the later document. `kind` names the kind in
 * messages (`PeerAuthentication`), `noun` what there may be one of (`policy`, `Telemetry`).
 */
export function checkOnePerScope(
  docs: readonly { readonly ctx: DocContext; readonly value: Scoped }[],
  workloads: readonly WorkloadEntry[],
  kind: string,
  noun: string,
): void {
  for (let i = 1; i < docs.length; i++) {
    const { ctx, value: p } = docs[i]!;
    for (let j = 0; j < i; j++) {
      const q = docs[j]!.value;
      if (q.meta.namespace !== p.meta.namespace) continue;
      if (p.selector === null && q.selector === null) {
        ctx.err(['spec'], `namespace ${p.meta.namespace} already has the namespace-wide ${kind} ${q.meta.name} (at most one ${noun} without selector per namespace)`);
        break;
      }
      if (p.selector === null || q.selector === null) continue;
      const both = workloads.find((we) => we.meta.namespace === p.meta.namespace && selects(p.selector!, we.labels) && selects(q.selector!, we.labels));
      if (both !== undefined) {
        ctx.err(['spec', 'selector'], `selects WorkloadEntry ${both.meta.namespace}/${both.meta.name}, which ${kind} ${q.meta.namespace}/${q.meta.name} already selects (at most one ${noun} per workload)`);
        break;
      }
    }
  }
}
