/**
 * The contract between translation (mesh config → xDS) and the ADS server: one immutable set of
 * xDS resources per node group, keyed by type URL and resource name. Resources are ProtoObjects
 * (config/compile/proto-json.ts canonical form: keepCase fields, Any as {'@type', ...}), packed to
 * bytes by the server with `packAny`.
 */
import type { ProtoObject } from '../../config/compile/proto-json';

export const TYPE_URL = {
  LISTENER: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  ROUTE: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  CLUSTER: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ENDPOINT: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  SECRET: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type XdsTypeUrl = (typeof TYPE_URL)[keyof typeof TYPE_URL];

/** Make-before-break push order (xds_protocol "Eventual consistency considerations"). */
export const PUSH_ORDER: readonly XdsTypeUrl[] = [TYPE_URL.CLUSTER, TYPE_URL.ENDPOINT, TYPE_URL.LISTENER, TYPE_URL.ROUTE, TYPE_URL.SECRET];

/** All resources one node (group) should see, by type URL then resource name. Deep-frozen. */
export interface XdsResourceSet {
  readonly byType: ReadonlyMap<XdsTypeUrl, ReadonlyMap<string, ProtoObject>>;
}

/** What the control plane knows about a connected node (from its first DiscoveryRequest). */
export interface NodeIdentity {
  readonly id: string;
  readonly cluster: string;
  /** node.metadata (Struct) as plain JSON: WORKLOAD_NAME, NAMESPACE, LABELS, SERVICE_ACCOUNT, APP_PORTS … */
  readonly metadata: Readonly<Record<string, unknown>>;
}
