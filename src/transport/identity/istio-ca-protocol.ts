/**
 * The wire shape of the mesh CA, `istio.v1.auth.IstioCertificateService/CreateCertificate`
 * (proto/istio/v1/auth/ca.proto, field numbers as Istio's security/v1alpha1/ca.proto): request
 * `{csr = 1, validity_duration = 3 (seconds), metadata = 4}`, response `{cert_chain = 1}` (PEM,
 * leaf first, root last). Encoded with a small protobufjs reflection schema built here (no proto
 * file loading at runtime, `metadata` is not sent), plus a grpc-js `ServiceDefinition` so test fakes
 * can serve the same method. Wire-compatible with the control plane's CA and with Istio's.
 */
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

export interface CertificateRequestMessage {
  readonly csr: string;
  /** Requested validity in seconds; 0 = the CA's default. */
  readonly validityDurationSeconds: number;
}

export interface CertificateResponseMessage {
  /** PEM certificates: leaf, intermediates…, root (the last entry may hold several roots). */
  readonly certChain: readonly string[];
}

const root = protobuf.Root.fromJSON({
  nested: {
    IstioCertificateRequest: { fields: { csr: { type: 'string', id: 1 }, validity_duration: { type: 'int64', id: 3 } } },
    IstioCertificateResponse: { fields: { cert_chain: { rule: 'repeated', type: 'string', id: 1 } } },
  },
});
const RequestType = root.lookupType('IstioCertificateRequest');
const ResponseType = root.lookupType('IstioCertificateResponse');

export function encodeCertificateRequest(m: CertificateRequestMessage): Buffer {
  return Buffer.from(RequestType.encode(RequestType.fromObject({ csr: m.csr, validity_duration: Math.max(0, Math.floor(m.validityDurationSeconds)) })).finish());
}

export function decodeCertificateRequest(buf: Buffer): CertificateRequestMessage {
  const o = RequestType.toObject(RequestType.decode(buf), { longs: Number, defaults: true }) as { csr: string; validity_duration: number };
  return { csr: o.csr, validityDurationSeconds: o.validity_duration };
}

export function encodeCertificateResponse(m: CertificateResponseMessage): Buffer {
  return Buffer.from(ResponseType.encode(ResponseType.fromObject({ cert_chain: m.certChain.slice() })).finish());
}

export function decodeCertificateResponse(buf: Buffer): CertificateResponseMessage {
  const o = ResponseType.toObject(ResponseType.decode(buf), { defaults: true, arrays: true }) as { cert_chain: string[] };
  return { certChain: o.cert_chain };
}

/** The service for `grpc.Server.addService` (test fakes). */
export const ISTIO_CA_SERVICE: grpc.ServiceDefinition = {
  CreateCertificate: {
    path: CREATE_CERTIFICATE_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeCertificateRequest,
    requestDeserialize: decodeCertificateRequest,
    responseSerialize: encodeCertificateResponse,
    responseDeserialize: decodeCertificateResponse,
  },
};
