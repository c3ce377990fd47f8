/**
 * Loading of the ADS service definition (`envoy/service/discovery/v3/ads.proto`) with
 * @grpc/proto-loader, in the option set grpc-js-xds itself uses (keepCase, longs/enums as String,
 * defaults, oneofs), and the DiscoveryRequest/Response shapes that definition produces. Resources
 * travel as explicit `{type_url, value: Buffer}` Anys, so this load needs no resource protos. Shared
 * by the ADS server and by test/bench ADS clients; there is no module-level cache (callers keep it).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoIncludeDirs } from '../../xds/protos';

/** The fully-qualified gRPC service name of ADS. */
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** An `Any` as proto-loader reads and writes it (no `json` expansion). */
export interface WireAny {
  type_url: string;
  value: Buffer;
}

/** `google.rpc.Status` as proto-loader decodes it. */
export interface WireStatus {
  code: number;
  message: string;
  details?: WireAny[];
}

/** `envoy.config.core.v3.Node` as decoded (defaults filled, oneof discriminators present). */
export interface WireNode {
  id: string;
  cluster: string;
  metadata: { fields?: Record<string, unknown> } | null;
  locality: { region?: string; zone?: string; sub_zone?: string } | null;
  user_agent_name: string;
  user_agent_version?: string;
  client_features?: string[];
  [other: string]: unknown;
}

/** `DiscoveryRequest` as decoded by proto-loader with `defaults: true` (absent messages are null). */
export interface WireDiscoveryRequest {
  version_info: string;
  node: WireNode | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: WireStatus | null;
}

/** `DiscoveryResponse` in the shape we write. */
export interface WireDiscoveryResponse {
  version_info: string;
  resources: WireAny[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string } | null;
}

/** The ADS service definition and a client constructor for it. */
export interface AdsDefinition {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

/**
 * Loads ads.proto from the Envoy include dirs (synchronous, ~150 ms). Call once per process (the
 * server does it in its constructor unless given one) and share the result.
 */
export function loadAdsDefinition(): AdsDefinition {
  const def = protoLoader.loadSync(['envoy/service/discovery/v3/ads.proto'], {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: protoIncludeDirs(),
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
  };
  const Client = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
  return { service: Client.service, Client };
}

export { structToJson, jsonToStruct } from '../../xds/proto-struct';
