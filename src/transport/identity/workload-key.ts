/**
 * The workload's private key: an EC P-256 key pair generated in-process with node:crypto for every
 * certificate request (each rotation gets a fresh key). The private key is exported only as PKCS#8
 * PEM for this process's own TLS contexts; it is never sent anywhere (the CSR carries the public
 * key only).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface WorkloadKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** PKCS#8 PEM of the private key, for `tls.createSecureContext({ key })`. */
  readonly privateKeyPem: Buffer;
}

/** Generates a fresh P-256 key pair (about a millisecond). */
export function generateWorkloadKey(): WorkloadKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  return { privateKey, publicKey, privateKeyPem: Buffer.from(pem) };
}
