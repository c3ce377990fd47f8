/**
 * The workload identity's certificate signing request: a PKCS#10 CSR (RFC 2986) with an empty
 * subject and one critical subjectAltName carrying the SPIFFE URI
 * (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`), as Istio's agent sends it, signed with the workload's
 * own key (which never leaves the sidecar). Built and verified with the shared X.509 module.
 */
import type { KeyObject } from 'node:crypto';
import { createCsr } from '../x509';

export interface CsrOptions {
  /** The SPIFFE ID to request, e.g. `spiffe://cluster.local/ns/default/sa/greeter`. */
  readonly spiffeId: string;
  /** EC P-256 key pair (the private key signs the request and stays with the caller). */
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Builds and signs a CSR; returns it as PEM (`CERTIFICATE REQUEST`). */
export function createCsrPem(options: CsrOptions): string {
  return createCsr({ privateKey: options.privateKey, publicKey: options.publicKey, uris: [options.spiffeId] });
}
