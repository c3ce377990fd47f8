/**
 * The secure xDS port (Istio's 15012): ADS over mutual TLS with certificates from the mesh CA.
 * Owns the live certificate material of that port (`AdsTlsCertificates`, a grpc-js
 * `CertificateProvider`: the control plane's serving certificate and the trust bundle client
 * certificates must chain to, swapped without restarting the server when the certificate is renewed
 * or the roots rotate; open streams keep their connection), and the node identity a stream proves
 * (`peerIdentityOf`: the one `spiffe://<trust-domain>/ns/<ns>/sa/<sa>` URI SAN of the verified
 * client certificate). The ADS server overrides the node's claimed NAMESPACE / SERVICE_ACCOUNT
 * with it (see ads-server.ts `identify`). The TLS version floor is Node's default (TLS 1.2): grpc-js
 * 1.14 server credentials expose no minVersion.
 */
import { X509Certificate } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import { parseSpiffeId } from '../../transport/peer-identity';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** PEM material of the secure port. */
export interface AdsTlsMaterial {
  /** Roots client certificates must chain to (the mesh trust bundle; old and new during a rotation). */
  readonly trustBundlePem: string;
  /** The control plane's certificate chain (leaf first). */
  readonly certChainPem: string;
  readonly privateKeyPem: string;
}

/**
 * The secure port's certificates as a grpc-js CertificateProvider (both CA and identity). `update()`
 * replaces them: new handshakes use the new material, established connections are unaffected.
 * Listeners get the current material on the next microtask after they subscribe: grpc-js 1.14
 * registers its server watcher only after subscribing, so a synchronous first update would be lost.
 */
export class AdsTlsCertificates implements experimental.CertificateProvider {
  private material: AdsTlsMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(initial: AdsTlsMaterial) {
    this.material = initial;
  }

  /** The material in force. */
  get current(): AdsTlsMaterial {
    return this.material;
  }

  /** Swaps in new material (a renewed serving certificate and/or a new trust bundle). */
  update(material: AdsTlsMaterial): void {
    const caChanged = material.trustBundlePem !== this.material.trustBundlePem;
    const idChanged = material.certChainPem !== this.material.certChainPem || material.privateKeyPem !== this.material.privateKeyPem;
    this.material = material;
    if (caChanged) for (const l of this.caListeners) l(this.caUpdate());
    if (idChanged) for (const l of this.identityListeners) l(this.identityUpdate());
  }

  /** grpc-js server credentials requiring a client certificate that chains to the trust bundle. */
  serverCredentials(): grpc.ServerCredentials {
    // Both arguments are this provider (grpc-js 1.14's parameter names are swapped internally).
    return experimental.createCertificateProviderServerCredentials(this, this, true);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener(this.identityUpdate());
    });
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.material.trustBundlePem) };
  }
  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.material.certChainPem), privateKey: Buffer.from(this.material.privateKeyPem) };
  }
}

/** The identity a node proved with its client certificate on the secure port. */
export interface NodePeerIdentity {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/**
 * What the transport says about a stream: `plaintext` (the insecure port), `verified` (a client
 * certificate with exactly one SPIFFE ID of `trustDomain`), or `rejected` with the reason (a TLS
 * stream whose certificate carries no usable identity).
 */
export type StreamPeer =
  | { readonly kind: 'plaintext' }
  | { readonly kind: 'verified'; readonly identity: NodePeerIdentity }
  | { readonly kind: 'rejected'; readonly reason: string };

/** grpc-js 1.14 `AuthContext` (not re-exported from the package root). */
export interface TransportAuthContext {
  readonly transportSecurityType?: string;
  readonly sslPeerCertificate?: { readonly raw?: Buffer };
}

/** Reads the verified peer certificate of `call` (grpc-js `getAuthContext()`). Never throws. */
export function peerIdentityOf(call: { getAuthContext(): TransportAuthContext | null }, trustDomain: string): StreamPeer {
  let auth: TransportAuthContext | null;
  try {
    auth = call.getAuthContext();
  } catch {
    auth = null;
  }
  if (auth === null || auth.transportSecurityType !== 'ssl') return { kind: 'plaintext' };
  const raw = auth.sslPeerCertificate?.raw;
  if (raw === undefined) return { kind: 'rejected', reason: 'no verified client certificate' };
  let sans: string;
  try {
    sans = new X509Certificate(raw).subjectAltName ?? '';
  } catch {
    return { kind: 'rejected', reason: 'unparsable client certificate' };
  }
  const ids = sans.split(', ').filter((s) => s.startsWith('URI:spiffe://')).map((s) => s.slice(4));
  if (ids.length !== 1) return { kind: 'rejected', reason: `the client certificate must carry exactly one SPIFFE ID, found ${ids.length}` };
  const parsed = parseSpiffeId(ids[0]!);
  if (parsed === null) return { kind: 'rejected', reason: `'${ids[0]}' is not a spiffe://<trust-domain>/ns/<ns>/sa/<sa> workload identity` };
  if (parsed.trustDomain !== trustDomain) return { kind: 'rejected', reason: `trust domain '${parsed.trustDomain}' is not this mesh's ('${trustDomain}')` };
  return { kind: 'verified', identity: { spiffeId: ids[0]!, ...parsed } };
}
