/**
 * Automatic mutual TLS between sidecars (Istio's auto-mTLS), translated to Envoy v3: resolving the
 * PeerAuthentication mode in force for a workload (port-level > workload selector > namespace-wide
 * > mesh-wide in the root namespace > PERMISSIVE), the inbound listener's filter chains for that
 * mode (STRICT: one TLS chain requiring a client certificate; PERMISSIVE: the TLS inspector plus a
 * `tls` and a `raw_buffer` chain sharing one HCM; DISABLE: plaintext, as without mTLS), the
 * outbound clusters' UpstreamTlsContext (Istio SNI `outbound_.<port>_.<subset>_.<host>`, the peer
 * verified against the SPIFFE IDs of the service accounts backing the destination), and the
 * `ROOTCA` Secret (the mesh trust bundle, old and new roots during a rotation). Certificates are
 * referenced by SDS name over ADS: `default` is the workload certificate the sidecar obtains from
 * the mesh CA itself (its key never leaves it), `ROOTCA` is served here. Active only when the
 * control plane has a CA (`TranslateOptions.mtls`); proxyless nodes never get TLS (grpc-js-xds has
 * no SDS). Pure, like the rest of translation. See docs/mesh-config.md "PeerAuthentication".
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { labelsMatch } from '../mesh/load-mesh-config';
import type { Labels, MeshConfig, PeerAuthentication, PortProtocol, WorkloadEntry } from '../mesh/model';

export const DOWNSTREAM_TLS_CONTEXT_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_CONTEXT_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const TLS_INSPECTOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
/** SDS name of the workload certificate and key (Istio's name); produced by the sidecar itself. */
export const WORKLOAD_CERT_SECRET_NAME = 'default';
/** SDS name of the mesh trust bundle (Istio's name); served by the control plane. */
export const ROOT_CA_SECRET_NAME = 'ROOTCA';

/** What translation needs to emit mTLS; `TranslateOptions.mtls` null = mTLS off (no CA). */
export interface MtlsTranslateOptions {
  /** SPIFFE trust domain (`spiffe://<trustDomain>/ns/<ns>/sa/<sa>`), default `cluster.local`. */
  readonly trustDomain: string;
  /** PEM roots every sidecar trusts (old and new root during a root rotation), served as `ROOTCA`. */
  readonly trustBundlePem: string;
  /** Istio root namespace: its PeerAuthentication without selector is mesh-wide (default `istio-system`). */
  readonly rootNamespace: string;
}

/** The mode an inbound port actually enforces (UNSET resolved). */
export type EffectiveMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

const STRICTNESS: Readonly<Record<EffectiveMtlsMode, number>> = { DISABLE: 0, PERMISSIVE: 1, STRICT: 2 };

/** `spiffe://<td>/ns/<ns>/sa/<sa>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The service account of a WorkloadEntry (Istio: `default` when none is given). */
export function workloadServiceAccount(we: WorkloadEntry): string {
  return we.serviceAccount ?? 'default';
}

/** The part of the mesh config the mTLS mode of a workload depends on. */
export type PeerAuthenticationInputs = Pick<MeshConfig, 'peerAuthentications'>;

/** The three policies that may apply to a workload: its own (selector), its namespace's, the mesh's. */
interface PolicyScopes {
  readonly workload: PeerAuthentication | null;
  readonly namespace: PeerAuthentication | null;
  readonly mesh: PeerAuthentication | null;
}

function scopesFor(mesh: PeerAuthenticationInputs, rootNamespace: string, namespace: string, labels: Labels): PolicyScopes {
  let workload: PeerAuthentication | null = null;
  let ns: PeerAuthentication | null = null;
  let root: PeerAuthentication | null = null;
  const list = mesh.peerAuthentications ?? [];
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    if (p.meta.namespace === namespace) {
      // Validation guarantees at most one of each kind per workload; keep the first anyway.
      if (p.selector === null) ns ??= p;
      else if (workload === null && labelsMatch(p.selector, labels)) workload = p;
    }
    if (p.meta.namespace === rootNamespace && p.selector === null) root ??= p;
  }
  return { workload, namespace: ns, mesh: root };
}

/**
 * The mode a workload (namespace + labels) enforces on traffic to `ports` (its workload ports):
 * mesh-wide < namespace-wide < workload policy, UNSET inheriting, PERMISSIVE when nothing is set;
 * then the workload policy's `portLevelMtls` for each port. One listener socket serves all of
 * `ports`, so when they resolve to different modes the strictest wins (documented).
 */
export function effectiveMtlsMode(
  mesh: PeerAuthenticationInputs, rootNamespace: string, namespace: string, labels: Labels, ports: readonly number[],
): EffectiveMtlsMode {
  const s = scopesFor(mesh, rootNamespace, namespace, labels);
  let base: EffectiveMtlsMode = 'PERMISSIVE';
  for (const p of [s.mesh, s.namespace, s.workload]) {
    if (p !== null && p.mode !== 'UNSET') base = p.mode;
  }
  if (s.workload === null || s.workload.portLevelMtls.length === 0 || ports.length === 0) return base;
  let out: EffectiveMtlsMode | null = null;
  for (const port of ports) {
    const override = s.workload.portLevelMtls.find((e) => e.port === port);
    const m: EffectiveMtlsMode = override === undefined || override.mode === 'UNSET' ? base : (override.mode as EffectiveMtlsMode);
    if (out === null || STRICTNESS[m] > STRICTNESS[out]) out = m;
  }
  return out ?? base;
}

function sdsConfig(name: string): ProtoObject {
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}

/** TLS 1.3 only, ALPN `alpn`, the workload certificate and ROOTCA by SDS, and the SAN matchers. */
function commonTlsContext(alpn: readonly string[], sanMatchers: readonly ProtoObject[]): ProtoObject {
  return {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
    alpn_protocols: [...alpn],
    tls_certificate_sds_secret_configs: [sdsConfig(WORKLOAD_CERT_SECRET_NAME)],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [...sanMatchers] },
      validation_context_sds_secret_config: sdsConfig(ROOT_CA_SECRET_NAME),
    },
  };
}

/**
 * The inbound DownstreamTlsContext transport socket: TLS 1.3, ALPN h2 + http/1.1, a client
 * certificate required and chained to ROOTCA, with a SPIFFE ID of this trust domain (authorization
 * then decides which identities may call what).
 */
export function inboundTransportSocket(mtls: MtlsTranslateOptions): ProtoObject {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
      common_tls_context: commonTlsContext(['h2', 'http/1.1'], [{ san_type: 'URI', matcher: { prefix: `spiffe://${mtls.trustDomain}/` } }]),
      require_client_certificate: { value: true },
    },
  };
}

/**
 * The inbound listener's `filter_chains` (and `listener_filters` for PERMISSIVE) for `mode`, built
 * around `chain` (a filter chain holding the HCM, shared by both chains in PERMISSIVE). With
 * `mtls` null or mode DISABLE: `{filter_chains: [chain]}`, exactly what is emitted without mTLS.
 */
export function inboundListenerChains(
  mtls: MtlsTranslateOptions | null, mode: EffectiveMtlsMode, chain: ProtoObject,
): { filter_chains: ProtoObject[]; listener_filters?: ProtoObject[] } {
  if (mtls === null || mode === 'DISABLE') return { filter_chains: [chain] };
  const tlsChain: ProtoObject = { ...chain, transport_socket: inboundTransportSocket(mtls) };
  if (mode === 'STRICT') return { filter_chains: [tlsChain] };
  return {
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE_URL } }],
    filter_chains: [
      { filter_chain_match: { transport_protocol: 'tls' }, ...tlsChain },
      { filter_chain_match: { transport_protocol: 'raw_buffer' }, ...chain },
    ],
  };
}

/** Istio's outbound SNI: `outbound_.<port>_.<subset>_.<host>`. */
export function outboundSni(port: number, host: string, subset: string | null): string {
  return `outbound_.${port}_.${subset ?? ''}_.${host}`;
}

/** One WorkloadEntry backing a cluster, with the port its sidecar is dialled on. */
export interface BackingWorkload {
  readonly we: WorkloadEntry;
  readonly port: number;
}

/**
 * The cluster's `transport_socket` for auto-mTLS, or null for plaintext: null when there is no
 * backing workload or every backing workload's PeerAuthentication is DISABLE for its port (with
 * mixed modes mTLS is used: DISABLE servers then refuse it, the secure failure). The peer must
 * present one of the SPIFFE IDs of the backing workloads' service accounts (sorted, unique).
 */
export function upstreamTransportSocket(
  mesh: PeerAuthenticationInputs, mtls: MtlsTranslateOptions, backing: readonly BackingWorkload[],
  port: number, host: string, subset: string | null, protocol: PortProtocol,
): ProtoObject | null {
  if (backing.length === 0) return null;
  let anyTls = false;
  const ids = new Set<string>();
  for (const b of backing) {
    const mode = effectiveMtlsMode(mesh, mtls.rootNamespace, b.we.meta.namespace, b.we.labels, [b.port]);
    if (mode !== 'DISABLE') anyTls = true;
    ids.add(spiffeId(mtls.trustDomain, b.we.meta.namespace, workloadServiceAccount(b.we)));
  }
  if (!anyTls) return null;
  const sans = [...ids].sort().map((id): ProtoObject => ({ san_type: 'URI', matcher: { exact: id } }));
  const alpn = protocol === 'HTTP' ? ['http/1.1'] : ['h2'];
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL,
      common_tls_context: commonTlsContext(alpn, sans),
      sni: outboundSni(port, host, subset),
    },
  };
}

/** The `ROOTCA` Secret: the mesh trust bundle as a validation context. */
export function rootCaSecret(mtls: MtlsTranslateOptions): ProtoObject {
  return { name: ROOT_CA_SECRET_NAME, validation_context: { trusted_ca: { inline_string: mtls.trustBundlePem } } };
}

/** Istio's "outside the mesh" check is by location: only MESH_INTERNAL workload-backed services get mTLS. */
export function isMtlsCandidate(location: 'MESH_INTERNAL' | 'MESH_EXTERNAL', hasSelector: boolean): boolean {
  return location === 'MESH_INTERNAL' && hasSelector;
}

