/**
 * The keys of Envoy `node.metadata` that Remora reads and writes: the contract between a sidecar
 * (the CLI's `--xds` bootstrap and the sidecar itself write them) and the control plane,
 * Istio metrics and tracing (which read them). Istio's own spellings where Istio has the key.
 */
export const NodeMetadataKey = {
  /** The workload name (Istio: WORKLOAD_NAME). */
  WorkloadName: 'WORKLOAD_NAME',
  /** The workload's namespace; on the secure xDS port the client certificate overrides it. */
  Namespace: 'NAMESPACE',
  /** The workload's service account; on the secure xDS port the client certificate overrides it. */
  ServiceAccount: 'SERVICE_ACCOUNT',
  /** The pod labels, a string map. */
  Labels: 'LABELS',
  /** The application ports the inbound listener forwards to, a list of numbers. */
  AppPorts: 'APP_PORTS',
  /** The outbound and inbound listener ports (defaults 15001 / 15006). */
  OutboundPort: 'OUTBOUND_PORT',
  InboundPort: 'INBOUND_PORT',
  /** Hosts this node may call, a list (absent: every host of the mesh). */
  EgressHosts: 'EGRESS_HOSTS',
  /** A proxyless gRPC client (grpc-js-xds) rather than a sidecar. */
  Proxyless: 'PROXYLESS',
  /** Istio's cluster id (the `*_cluster` metric labels). */
  ClusterId: 'CLUSTER_ID',
  /** The mesh CA's `host:port`, its token file and the trust domain, when the CLI does not give them. */
  CaAddress: 'CA_ADDRESS',
  CaTokenFile: 'CA_TOKEN_FILE',
  TrustDomain: 'TRUST_DOMAIN',
  /** The sidecar's bound admin `host:port`, added by the sidecar (the dashboard scrapes it). */
  AdminAddress: 'REMORA_ADMIN_ADDRESS',
} as const;
