/**
 * The validated, deep-frozen mesh configuration: the Istio-shaped documents Remora accepts
 * (ServiceEntry, WorkloadEntry, VirtualService, DestinationRule, the security and telemetry kinds,
 * and Remora's RateLimitPolicy and MeshConfig; see docs/mesh-config.md) after
 * every field and cross-reference has been checked, plus lookup indexes by host. This is the only
 * input of translation (`translate/`); nothing downstream re-validates it.
 */

import type { AuthorizationPolicy } from './authorization-policy';
import type { RequestAuthentication } from './request-authentication';
import type { TelemetryProviders } from './extension-providers';
import type { Telemetry } from './telemetry';
import type { GrpcTranscoder } from './grpc-transcoder';
import type { GrpcValidation } from './grpc-validation';

/** Kubernetes-style labels (string → string). */
export type Labels = Readonly<Record<string, string>>;

/** Where a document came from: file, position in the file (0-based document index) and identity. */
export interface ResourceMeta {
  readonly kind: MeshKind;
  readonly name: string;
  /** `metadata.namespace`, `default` when omitted. */
  readonly namespace: string;
  readonly file: string;
  readonly index: number;
}

export type MeshKind = 'ServiceEntry' | 'WorkloadEntry' | 'VirtualService' | 'DestinationRule' | 'RateLimitPolicy' | 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication' | 'Telemetry' | 'MeshConfig' | 'GrpcTranscoder' | 'GrpcValidation';

/** ServiceEntry port protocols Remora supports (Istio names, upper-cased). */
export type PortProtocol = 'GRPC' | 'HTTP' | 'HTTP2' | 'TCP';

export interface ServicePort {
  readonly number: number;
  readonly name: string;
  readonly protocol: PortProtocol;
  /** Istio `targetPort`: the endpoint port when an endpoint does not name one; null = `number`. */
  readonly targetPort: number | null;
}

/** An endpoint of a service: a ServiceEntry `endpoints[]` entry or a selected WorkloadEntry. */
export interface WorkloadEndpoint {
  /** IP literal (STATIC resolution) or host name (DNS resolution). */
  readonly address: string;
  /** Port name → port, overriding the service port's targetPort/number. */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Labels;
  /** Load-balancing weight; null = unweighted (1). */
  readonly weight: number | null;
}

export interface ServiceEntry {
  readonly meta: ResourceMeta;
  readonly hosts: readonly string[];
  readonly ports: readonly ServicePort[];
  /** Remora default: STATIC (Istio's default NONE, passthrough, is not supported). */
  readonly resolution: 'STATIC' | 'DNS';
  readonly location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  readonly endpoints: readonly WorkloadEndpoint[];
  /** Selects WorkloadEntries of the same namespace; null when `endpoints` (or nothing) is used. */
  readonly workloadSelector: Labels | null;
}

export interface WorkloadEntry {
  readonly meta: ResourceMeta;
  readonly address: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Labels;
  readonly serviceAccount: string | null;
  readonly weight: number | null;
}

/** Istio StringMatch (exactly one of exact/prefix/regex). `regex` is RE2 syntax, full match. */
export interface StringMatch {
  readonly kind: 'exact' | 'prefix' | 'regex';
  readonly value: string;
}

export interface NamedStringMatch {
  readonly name: string;
  readonly match: StringMatch;
}

export interface HttpMatch {
  readonly name: string | null;
  readonly uri: StringMatch | null;
  readonly ignoreUriCase: boolean;
  /** Sorted by name (Istio's map order is not meaningful). Names are lower-cased. */
  readonly headers: readonly NamedStringMatch[];
  readonly queryParams: readonly NamedStringMatch[];
  readonly method: StringMatch | null;
  readonly authority: StringMatch | null;
  /** The match applies only to callers whose labels include these; null = every caller. */
  readonly sourceLabels: Labels | null;
}

export interface HeaderOperations {
  /** [name, value] pairs, sorted by name; `set` overwrites, `add` appends. Names lower-cased. */
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export interface HeadersSpec {
  readonly request: HeaderOperations;
  readonly response: HeaderOperations;
}

export interface RouteDestination {
  readonly host: string;
  readonly subset: string | null;
  /** Destination port; null = the service's only HTTP port, or the port of the virtual host being built. */
  readonly port: number | null;
  /** 0..100; a single destination without weight gets 100. */
  readonly weight: number;
  readonly headers: HeadersSpec | null;
}

export interface HttpRedirect {
  readonly uri: string | null;
  readonly authority: string | null;
  readonly port: number | null;
  readonly scheme: string | null;
  /** 301 (default), 302, 303, 307 or 308. */
  readonly redirectCode: number;
}

export interface HttpDirectResponse {
  readonly status: number;
  /** Body text (`body.string`) or bytes (`body.bytes`, base64 in YAML); null = no body. */
  readonly body: { readonly kind: 'string'; readonly value: string } | { readonly kind: 'bytes'; readonly value: Buffer } | null;
}

export interface HttpRoute {
  readonly name: string | null;
  /** Empty = match everything. Entries are ORed, in order. */
  readonly match: readonly HttpMatch[];
  /** Exactly one of route (non-empty), redirect, directResponse is set. */
  readonly route: readonly RouteDestination[];
  readonly redirect: HttpRedirect | null;
  readonly directResponse: HttpDirectResponse | null;
  readonly rewrite: { readonly uri: string | null; readonly authority: string | null } | null;
  /** Route timeout in ms; null = none given (Istio: disabled, `0s`). */
  readonly timeoutMs: number | null;
  readonly headers: HeadersSpec | null;
  /** `retries`; null = not given (Remora's safe default policy applies, see docs/mesh-config.md). */
  readonly retries: HttpRetry | null;
  /** `fault`; null = no fault injection. */
  readonly fault: HttpFault | null;
  /** `corsPolicy` (mesh/cors-policy.ts); null/absent = none. Applied on the destination's inbound sidecar (translate/cors.ts). */
  readonly corsPolicy?: import('./cors-policy').CorsPolicySpec | null;
}

/** Istio HTTPRetry, with `retryOn` already mapped to Envoy `retry_on` names. */
export interface HttpRetry {
  /** `attempts` (Envoy `num_retries`); 0 = retries disabled for the route. */
  readonly attempts: number;
  /** `perTryTimeout` in ms; null = none. */
  readonly perTryTimeoutMs: number | null;
  /** Envoy `retry_on` conditions, de-duplicated, in the order given (Istio's default set when `retryOn` is absent). */
  readonly retryOn: readonly string[];
  /** HTTP statuses named in `retryOn` (Istio's default: 503). Non-empty iff `retryOn` has `retriable-status-codes`. */
  readonly retriableStatusCodes: readonly number[];
  /** `backoff` (Envoy `retry_back_off.base_interval`) in ms; null = the data plane's default (25 ms). */
  readonly backoffMs: number | null;
}

/** A percentage in [0, 100] (Istio `Percent.value`, fractional allowed). */
export type Percent = number;

/** Istio HTTPFaultInjection. At least one of delay/abort is set. */
export interface HttpFault {
  readonly delay: { readonly percent: Percent; readonly fixedDelayMs: number } | null;
  /** Exactly one of httpStatus (200..599) and grpcStatus (a gRPC code number, 1..16) is set. */
  readonly abort: { readonly percent: Percent; readonly httpStatus: number | null; readonly grpcStatus: number | null } | null;
}

export interface VirtualService {
  readonly meta: ResourceMeta;
  readonly hosts: readonly string[];
  readonly http: readonly HttpRoute[];
}

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM';

/** Istio `loadBalancer.consistentHash`: the hash key (exactly one) and the ring size. */
export interface ConsistentHash {
  readonly key:
    | { readonly kind: 'header'; readonly name: string }
    | { readonly kind: 'cookie'; readonly name: string }
    | { readonly kind: 'sourceIp' }
    | { readonly kind: 'queryParameter'; readonly name: string };
  /** `minimumRingSize` / `ringHash.minimumRingSize`; null = the data plane's default (1024). */
  readonly minimumRingSize: number | null;
}

/** Istio `loadBalancer`: exactly one of `simple` and `consistentHash`. */
export type LoadBalancerSettings =
  | { readonly kind: 'simple'; readonly policy: LbPolicy }
  | { readonly kind: 'consistentHash'; readonly hash: ConsistentHash };

/** Istio `connectionPool` (the fields Remora supports; null = not set, Envoy/Remora default). */
export interface ConnectionPool {
  readonly tcp: { readonly maxConnections: number | null; readonly connectTimeoutMs: number | null } | null;
  readonly http: {
    readonly http1MaxPendingRequests: number | null;
    readonly http2MaxRequests: number | null;
    readonly maxRequestsPerConnection: number | null;
    readonly maxRetries: number | null;
    readonly idleTimeoutMs: number | null;
  } | null;
}

/** Istio `outlierDetection` (null = not set: Envoy's default, or for the counts "detector off"). */
export interface OutlierDetection {
  /** 0 disables 5xx ejection. */
  readonly consecutive5xxErrors: number | null;
  /** 0 disables gateway-error ejection. */
  readonly consecutiveGatewayErrors: number | null;
  readonly consecutiveLocalOriginFailures: number | null;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly intervalMs: number | null;
  readonly baseEjectionTimeMs: number | null;
  readonly maxEjectionPercent: number | null;
  /** Istio default 0: the panic threshold is off (Envoy `healthy_panic_threshold`). */
  readonly minHealthPercent: number;
}

/** Istio `trafficPolicy` (a subset's policy replaces the rule's section by section, as Istio merges). */
export interface TrafficPolicy {
  readonly loadBalancer: LoadBalancerSettings | null;
  readonly connectionPool: ConnectionPool | null;
  readonly outlierDetection: OutlierDetection | null;
}

export interface Subset {
  readonly name: string;
  readonly labels: Labels;
  /** Subset-level `trafficPolicy`; null = inherit the rule's. */
  readonly trafficPolicy: TrafficPolicy | null;
}

export interface DestinationRule {
  readonly meta: ResourceMeta;
  readonly host: string;
  readonly trafficPolicy: TrafficPolicy | null;
  readonly subsets: readonly Subset[];
}

/** The policy in force for `subset` of `dr` (null = the whole service): Istio's section-wise merge. */
export function effectiveTrafficPolicy(dr: DestinationRule | null, subset: Subset | null): TrafficPolicy | null {
  const top = dr?.trafficPolicy ?? null;
  const sub = subset?.trafficPolicy ?? null;
  if (sub === null) return top;
  if (top === null) return sub;
  return {
    loadBalancer: sub.loadBalancer ?? top.loadBalancer,
    connectionPool: sub.connectionPool ?? top.connectionPool,
    outlierDetection: sub.outlierDetection ?? top.outlierDetection,
  };
}

// ------------------------------------------------------------------- RateLimitPolicy

/** One entry of a global descriptor: a key and where its value comes from. */
export type RateLimitEntry =
  | { readonly kind: 'header'; readonly key: string; readonly header: string }
  | { readonly kind: 'value'; readonly key: string; readonly value: string }
  | { readonly kind: 'remoteAddress'; readonly key: 'remote_address' };

/**
 * One entry of a local descriptor: the exact `value` a request's entry must have. `header`: the
 * request header `header` (lowercase) equals `value`; `remoteAddress`: the peer address is `value`;
 * `value`: a constant entry (every request has it).
 */
export type LocalRateLimitEntry =
  | { readonly kind: 'header'; readonly key: string; readonly header: string; readonly value: string }
  | { readonly kind: 'value'; readonly key: string; readonly value: string }
  | { readonly kind: 'remoteAddress'; readonly key: 'remote_address'; readonly value: string };

/** `local.descriptors[]`: requests whose entries all match get this bucket. */
export interface LocalRateLimitDescriptor {
  readonly entries: readonly LocalRateLimitEntry[];
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

export type RateLimitUnit = 'SECOND' | 'MINUTE' | 'HOUR';

export interface GlobalRateLimitDescriptor {
  readonly entries: readonly RateLimitEntry[];
  readonly requestsPerUnit: number;
  readonly unit: RateLimitUnit;
}

/** `remora.dev/v1alpha1` RateLimitPolicy: limits enforced by the selected workloads' inbound sidecars. */
export interface RateLimitPolicy {
  readonly meta: ResourceMeta;
  /** `workloadSelector.matchLabels` ({} = every workload of the namespace). */
  readonly selector: Labels;
  /**
   * `local`: per-sidecar token buckets; null = no local limit. `maxTokens`/`tokensPerFill`/
   * `fillIntervalMs` are `local.tokenBucket`, the bucket of every inbound request no descriptor matches.
   */
  readonly local: {
    readonly maxTokens: number;
    readonly tokensPerFill: number;
    readonly fillIntervalMs: number;
    /** `local.descriptors`: requests whose descriptor equals one get its bucket instead; [] when none. */
    readonly descriptors: readonly LocalRateLimitDescriptor[];
  } | null;
  /** `global`: limits counted in a shared Redis; null = no global limit. */
  readonly global: {
    readonly domain: string;
    readonly redisAddress: string;
    readonly redisTimeoutMs: number | null;
    readonly failureModeDeny: boolean;
    readonly descriptors: readonly GlobalRateLimitDescriptor[];
  } | null;
}

// ------------------------------------------------------------------- PeerAuthentication

/** Istio `MutualTLS.Mode`; UNSET inherits from the enclosing scope (port → workload → namespace → mesh). */
export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

/** `security.istio.io/v1` PeerAuthentication: the mTLS mode the selected workloads' inbound sidecars accept. */
export interface PeerAuthentication {
  readonly meta: ResourceMeta;
  /** `selector.matchLabels` (non-empty); null = namespace-wide (mesh-wide in the root namespace). */
  readonly selector: Labels | null;
  /** `mtls.mode`; UNSET when `mtls` or its mode is absent. */
  readonly mode: MtlsMode;
  /** `portLevelMtls`, sorted by port (only with a selector); [] when none. */
  readonly portLevelMtls: readonly { readonly port: number; readonly mode: MtlsMode }[];
}

/** The whole validated mesh. Arrays are in (file, index) order; indexes are keyed by host. */
export interface MeshConfig {
  readonly serviceEntries: readonly ServiceEntry[];
  readonly workloadEntries: readonly WorkloadEntry[];
  readonly virtualServices: readonly VirtualService[];
  readonly destinationRules: readonly DestinationRule[];
  /** RateLimitPolicies in (file, index) order; at most one selects a given WorkloadEntry. Absent = none. */
  readonly rateLimitPolicies?: readonly RateLimitPolicy[];
  /** PeerAuthentications in (file, index) order (see mesh/peer-authentication.ts). Absent = none. */
  readonly peerAuthentications?: readonly PeerAuthentication[];
  /** AuthorizationPolicies in (file, index) order (see mesh/authorization-policy.ts). Absent = none. */
  readonly authorizationPolicies?: readonly AuthorizationPolicy[];
  /** RequestAuthentications in (file, index) order (see mesh/request-authentication.ts). Absent = none. */
  readonly requestAuthentications?: readonly RequestAuthentication[];
  /** Telemetries in (file, index) order (see mesh/telemetry.ts). Absent = none. */
  readonly telemetries?: readonly Telemetry[];
  /**
   * The telemetry providers (the `remora.dev/v1alpha1` MeshConfig document's `extensionProviders`
   * plus the built-in `prometheus` and `envoy`) and `defaultProviders`; see
   * mesh/extension-providers.ts. Absent = the built-ins (`DEFAULT_TELEMETRY_PROVIDERS`).
   */
  readonly telemetryProviders?: TelemetryProviders;
  /**
   * GrpcTranscoders in (file, index) order, descriptors resolved (see mesh/grpc-transcoder.ts); at
   * most one selects a given WorkloadEntry. Absent = none.
   */
  readonly grpcTranscoders?: readonly GrpcTranscoder[];
  /**
   * GrpcValidations in (file, index) order, descriptors resolved (see mesh/grpc-validation.ts); a
   * WorkloadEntry is selected by at most one validation source (a GrpcValidation or a
   * GrpcTranscoder's `validation`). Absent = none.
   */
  readonly grpcValidations?: readonly GrpcValidation[];
  /** host → the ServiceEntry declaring it (a host is declared at most once). */
  readonly serviceByHost: ReadonlyMap<string, ServiceEntry>;
  /** host → the VirtualService bound to it (at most one per host). */
  readonly virtualServiceByHost: ReadonlyMap<string, VirtualService>;
  /** host → the DestinationRule for it (at most one per host). */
  readonly destinationRuleByHost: ReadonlyMap<string, DestinationRule>;
  /**
   * WorkloadEntries by `workloadIndexKey(namespace, label, value)` for each of their labels, and by
   * `workloadIndexKey(namespace)`: selector matching scans only the entries sharing one label.
   */
  readonly workloadEntryIndex: ReadonlyMap<string, readonly WorkloadEntry[]>;
  /** `namespace/name` → WorkloadEntry (a sidecar finds its own entry without a scan). */
  readonly workloadEntryByName: ReadonlyMap<string, WorkloadEntry>;
  /**
   * ServiceEntries with a `workloadSelector`, each under exactly one `workloadIndexKey`: its
   * namespace with its first selector label (in sorted key order), or just its namespace for an
   * empty selector. The services a workload backs are among the entries under its namespace and
   * under each of its own labels (then `labelsMatch` decides).
   */
  readonly selectingServiceIndex: ReadonlyMap<string, readonly ServiceEntry[]>;
}

/** Key of `MeshConfig.workloadEntryIndex`: a namespace, optionally with one `label=value` pair. */
export function workloadIndexKey(namespace: string, label?: string, value?: string): string {
  return label === undefined ? namespace : `${namespace}\u0000${label}=${value}`;
}

/** One problem in the mesh config: where (file, document index, kind, name, field path) and why. */
export interface MeshConfigIssue {
  readonly file: string;
  /** 0-based index of the YAML document in the file. */
  readonly index: number;
  /** The document's kind/name when known (null for malformed documents). */
  readonly kind: string | null;
  readonly name: string | null;
  /** Field path such as `spec.http[0].route[1].destination.subset`; '' for the whole document. */
  readonly path: string;
  readonly message: string;
  /** 1-based line and column of the offending node when known. */
  readonly line: number | null;
  readonly col: number | null;
}

/** `file:line:col: Kind/name (document N) path: message` — the one human-readable form. */
export function formatMeshIssue(i: MeshConfigIssue): string {
  const where = i.line !== null ? `${i.file}:${i.line}:${i.col ?? 1}` : i.file;
  const what = i.kind !== null ? `${i.kind}/${i.name ?? '?'}` : 'document';
  const path = i.path === '' ? '' : ` ${i.path}`;
  return `${where}: ${what} (document ${i.index})${path}: ${i.message}`;
}
