/**
 * Validates Istio `security.istio.io/v1` (and `v1beta1`) `PeerAuthentication` documents into
 * `PeerAuthentication`: which workloads it covers (no `selector`: the whole namespace, or the whole
 * mesh in the root namespace; `selector.matchLabels`: the matching workloads of its namespace), the
 * `mtls.mode` (UNSET, DISABLE, PERMISSIVE, STRICT) and `portLevelMtls` overrides keyed by workload
 * port. Also owns the cross-document rules: at most one namespace-wide policy per namespace, and at
 * most one workload policy selecting a given WorkloadEntry (Istio keeps the oldest; Remora has no
 * creation times, so it rejects the ambiguity). Resolution of the mode in force for a workload and
 * the TLS resources it produces are in `translate/mtls.ts`; the format is in docs/mesh-config.md.
 */
import { checkOnePerScope, readSelector } from './selector-scopes';
import { present, type DocContext, type Path } from './document-context';
import { isPlainObject } from './document-context';
import type { MtlsMode, PeerAuthentication, ResourceMeta, WorkloadEntry } from './model';

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];


/** `{mode}` (Istio MutualTLS); absent mode = UNSET. Returns null after recording an issue. */
function readMutualTls(ctx: DocContext, v: unknown, path: Path): MtlsMode | null {
  const o = ctx.object(v, path, ['mode']);
  if (o === null) return null;
  const mode = ctx.string(o, 'mode', path);
  if (mode === undefined) return present(o, 'mode') ? null : 'UNSET';
  if (!(MODES as readonly string[]).includes(mode)) {
    ctx.err([...path, 'mode'], `unknown mode '${mode}'; expected one of ${MODES.join(', ')}`);
    return null;
  }
  return mode as MtlsMode;
}

/** Reads one PeerAuthentication spec; null (with issues recorded) when invalid. */
export function readPeerAuthentication(ctx: DocContext, meta: ResourceMeta, v: unknown): PeerAuthentication | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['selector', 'mtls', 'portLevelMtls']);
  if (spec === null) return null;
  const before = ctx.errorCount;

  const selector = readSelector(ctx, spec, path, { error: 'a namespace-wide policy' });

  const mode = present(spec, 'mtls') ? readMutualTls(ctx, spec['mtls'], [...path, 'mtls']) : 'UNSET';

  const portLevel: { port: number; mode: MtlsMode }[] = [];
  if (present(spec, 'portLevelMtls')) {
    const pp = [...path, 'portLevelMtls'];
    const raw = spec['portLevelMtls'];
    if (!isPlainObject(raw)) ctx.err(pp, 'expected a mapping of port number to {mode}');
    else {
      const keys = Object.keys(raw);
      if (keys.length === 0) ctx.err(pp, 'must not be empty when set');
      // Istio: port-level settings need a workload selector (ports belong to workloads).
      if (!present(spec, 'selector')) ctx.err(pp, 'requires selector (port-level mTLS applies to selected workloads only)');
      for (const k of keys) {
        const port = /^\d+$/.test(k) ? Number(k) : NaN;
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          ctx.err([...pp, k], `invalid port '${k}'; expected a port number 1..65535`);
          continue;
        }
        const m = readMutualTls(ctx, raw[k], [...pp, k]);
        if (m !== null) portLevel.push({ port, mode: m });
      }
      portLevel.sort((a, b) => a.port - b.port);
    }
  }
  if (ctx.errorCount !== before || mode === null) return null;
  return { meta, selector, mode, portLevelMtls: portLevel };
}

/**
 * Cross-document rules: one namespace-wide policy per namespace, and at most one workload policy
 * selecting a given WorkloadEntry. The issue goes on every later policy, naming the first one.
 */
export function checkPeerAuthentications(
  policies: readonly { readonly ctx: DocContext; readonly value: PeerAuthentication }[],
  workloads: readonly WorkloadEntry[],
): void {
  checkOnePerScope(policies, workloads, 'PeerAuthentication', 'policy');
}
