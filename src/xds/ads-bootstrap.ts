/**
 * Builds the Envoy v3 Bootstrap (as a JSON-shaped object, compiled like a bootstrap file) that
 * `remora sidecar --xds <host:port> --node-id <id> ...` stands for: the node with Istio-style
 * metadata (WORKLOAD_NAME, NAMESPACE, SERVICE_ACCOUNT, APP_PORTS, LABELS), the admin address, one
 * static HTTP/2 cluster `xds-grpc` pointing at the control plane, and `dynamic_resources` with LDS
 * and CDS over ADS on that cluster. With `xdsTls` (`--xds-tls`, the control plane's secure port) the
 * cluster gets an UpstreamTlsContext presenting the workload certificate (SDS `default`) and
 * verifying the server against the trust bundle (SDS `ROOTCA`) and the control plane's SPIFFE ID,
 * as Istio's own bootstrap does for its `xds-grpc` cluster; the sidecar serves both secrets from
 * its workload identity.
 */
import { controlPlaneSpiffeId } from '../transport/peer-identity';
import { NodeMetadataKey } from '../config/node-metadata';

export const XDS_CLUSTER_NAME = 'xds-grpc';
export { controlPlaneSpiffeId };

/** mTLS towards the control plane's secure xDS port. */
export interface AdsBootstrapTlsOptions {
  /** The mesh trust domain (default cluster.local). */
  readonly trustDomain?: string;
  /** The SPIFFE ID the server must present (default `controlPlaneSpiffeId(trustDomain)`). */
  readonly serverSpiffeId?: string;
}

export interface AdsBootstrapOptions {
  /** `host:port` (IPv6 as `[::1]:15010`). */
  readonly xds: string;
  readonly nodeId: string;
  /** node.cluster (default: the workload name, else the node id). */
  readonly nodeCluster?: string;
  readonly workload?: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly appPorts?: readonly number[];
  readonly labels?: Readonly<Record<string, string>>;
  /** Node metadata OUTBOUND_PORT / INBOUND_PORT: this sidecar's listener ports (default 15001/15006). */
  readonly outboundPort?: number;
  readonly inboundPort?: number;
  /** Admin bind address (default 127.0.0.1:15000). */
  readonly adminHost?: string;
  readonly adminPort?: number;
  /** Connect with mTLS using the workload identity (SDS `default` / `ROOTCA`); null/absent = plaintext. */
  readonly xdsTls?: AdsBootstrapTlsOptions | null;
}

/** Splits `host:port` / `[v6]:port`; throws an Error naming the input when malformed. */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) throw new Error(`expected host:port, got '${value}'`);
  return { host: m[1] ?? m[2]!, port };
}

/** The bootstrap object; compile it with `parseProtoJson(root, BOOTSTRAP_TYPE, …)` + `compileBootstrap`. */
export function buildAdsBootstrap(o: AdsBootstrapOptions): Record<string, unknown> {
  const { host, port } = parseHostPort(o.xds);
  const metadata: Record<string, unknown> = {};
  if (o.workload !== undefined) metadata[NodeMetadataKey.WorkloadName] = o.workload;
  if (o.namespace !== undefined) metadata[NodeMetadataKey.Namespace] = o.namespace;
  if (o.serviceAccount !== undefined) metadata[NodeMetadataKey.ServiceAccount] = o.serviceAccount;
  if (o.appPorts !== undefined && o.appPorts.length > 0) metadata[NodeMetadataKey.AppPorts] = o.appPorts.slice();
  if (o.labels !== undefined && Object.keys(o.labels).length > 0) metadata[NodeMetadataKey.Labels] = { ...o.labels };
  if (o.outboundPort !== undefined) metadata[NodeMetadataKey.OutboundPort] = o.outboundPort;
  if (o.inboundPort !== undefined) metadata[NodeMetadataKey.InboundPort] = o.inboundPort;
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return {
    node: { id: o.nodeId, cluster: o.nodeCluster ?? o.workload ?? o.nodeId, metadata },
    admin: { address: { socket_address: { address: o.adminHost ?? '127.0.0.1', port_value: o.adminPort ?? 15000 } } },
    static_resources: {
      clusters: [{
        name: XDS_CLUSTER_NAME,
        type: isIp ? 'STATIC' : 'STRICT_DNS',
        connect_timeout: '1s',
        load_assignment: {
          cluster_name: XDS_CLUSTER_NAME,
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
        },
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        ...(o.xdsTls === undefined || o.xdsTls === null ? {} : { transport_socket: xdsTransportSocket(o.xdsTls) }),
      }],
    },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER_NAME } }] },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
  };
}

const SDS_OVER_ADS = { ads: {}, resource_api_version: 'V3' };

/** The `xds-grpc` cluster's UpstreamTlsContext: workload certificate, ROOTCA, the server's SPIFFE ID. */
function xdsTransportSocket(t: AdsBootstrapTlsOptions): Record<string, unknown> {
  const serverId = t.serverSpiffeId ?? controlPlaneSpiffeId(t.trustDomain ?? 'cluster.local');
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        alpn_protocols: ['h2'],
        tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: SDS_OVER_ADS }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: serverId } }] },
          validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: SDS_OVER_ADS },
        },
      },
    },
  };
}
