/**
 * Loading of `proto/istio/v1/auth/ca.proto` (Istio-compatible `IstioCertificateService`) with
 * @grpc/proto-loader (keepCase, int64 as String, defaults), and the request/response shapes it
 * produces. Used by the CA service and by CA clients (tests, tools; the sidecar's CA client may
 * load the same file). No module-level cache: callers keep the definition.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { remoraProtoDir } from '../../xds/protos';

/** Fully-qualified service name, as Istio's. */
export const CA_SERVICE = 'istio.v1.auth.IstioCertificateService';
/** The gRPC method path. */
export const CREATE_CERTIFICATE_PATH = `/${CA_SERVICE}/CreateCertificate`;

/** `IstioCertificateRequest` as decoded (`longs: String`, defaults filled). */
export interface WireCertificateRequest {
  csr: string;
  /** Seconds, as a decimal string (int64); '0' when absent. */
  validity_duration: string | number;
  metadata: { fields?: Record<string, unknown> } | null;
}

export interface WireCertificateResponse {
  cert_chain: string[];
}

export interface CaDefinition {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

/** Loads the CA service definition from the repository's `proto/` folder. Throws if missing. */
export function loadCaDefinition(): CaDefinition {
  const def = protoLoader.loadSync(path.join(remoraProtoDir(), 'istio/v1/auth/ca.proto'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [remoraProtoDir()],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } } };
  const Client = pkg.istio.v1.auth.IstioCertificateService;
  return { service: Client.service, Client };
}
