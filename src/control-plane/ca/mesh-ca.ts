/**
 * The mesh certificate authority: root material held in memory, the signing policy (which identity
 * a caller may get, the validity window) and the trust bundle. `sign()` issues exactly the SPIFFE
 * identity it is told the caller proved, from a verified CSR, for `min(requested, max TTL)` and
 * never past the signing root's own expiry. Root rotation: the CA holds a list of trusted roots and
 * one active (signing) root; during an overlap the trust bundle carries old and new roots together
 * so workloads with either chain keep verifying each other (see docs/security.md). Time comes from
 * the injected Clock; serial numbers from a CSPRNG (`randomBytes`, node:crypto by default).
 */
import * as crypto from 'node:crypto';
import type { Clock } from '../../core/clock';
import { CaError } from './ca-errors';
import {
  createRootCa,
  generateKeyPair,
  issueLeafCertificate,
  loadSigningMaterial,
  parseAndVerifyCsr,
  randomSerial,
  toPem,
  type CaKeyType,
  type SigningMaterial,
} from '../../transport/x509';

/** A service account in a namespace: the only thing a caller can prove and get a certificate for. */
export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
/** Default workload certificate lifetime (Istio's default: 24 h). */
export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3_600_000;
/** Default ceiling on a requested lifetime (Istio's max-workload-cert-ttl default: 90 days). */
export const DEFAULT_MAX_WORKLOAD_TTL_MS = 90 * 24 * 3_600_000;
/** Default root lifetime for `MeshCa.createSelfSigned` / `remora ca init` (10 years, as Istio). */
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * 3_600_000;
/** Backdating of notBefore, to tolerate clock skew between the CA and verifiers. */
export const CLOCK_SKEW_MS = 60_000;

/** Namespace and service-account names: Kubernetes-style, no `/` (they become SPIFFE path segments). */
const NAME_RE = /^[a-z0-9]([-a-z0-9._]{0,251}[a-z0-9])?$/;
const TRUST_DOMAIN_RE = /^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$/;

export interface MeshCaOptions {
  readonly trustDomain: string;
  readonly clock: Clock;
  /** The signing root (also trusted). */
  readonly root: SigningMaterial;
  /** Further roots to trust (e.g. the previous root during a rotation); PEM certificates. */
  readonly additionalTrustedRootsPem?: readonly string[];
  /** Default lifetime when a request asks for none (default 24 h). */
  readonly defaultTtlMs?: number;
  /** Ceiling on any requested lifetime (default 90 days). */
  readonly maxTtlMs?: number;
  /** CSPRNG for serial numbers (default node:crypto randomBytes). */
  readonly randomBytes?: (n: number) => Buffer;
}

/** A certificate the CA issued. */
export interface IssuedCertificate {
  readonly spiffeId: string;
  /** PEM leaf, then the signing root: what `IstioCertificateResponse.cert_chain` carries. */
  readonly certChainPem: readonly string[];
  readonly certPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Uppercase hex, as node:crypto prints serial numbers. */
  readonly serialHex: string;
}

/** A trusted root as `MeshCa.roots()` lists it. */
export interface RootInfo {
  readonly fingerprint256: string;
  readonly subject: string;
  readonly notAfter: Date;
  /** True for the one root that signs. */
  readonly active: boolean;
  /** True when the CA holds the key (it can be activated). */
  readonly hasKey: boolean;
}

interface RootEntry {
  readonly cert: crypto.X509Certificate;
  readonly pem: string;
  readonly material: SigningMaterial | null;
}

export class MeshCa {
  readonly trustDomain: string;
  private readonly clock: Clock;
  private readonly defaultTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly randomBytes: (n: number) => Buffer;
  private trusted: RootEntry[];
  private active: SigningMaterial;

  constructor(options: MeshCaOptions) {
    if (!TRUST_DOMAIN_RE.test(options.trustDomain)) throw new RangeError(`invalid trust domain '${options.trustDomain}' (lowercase letters, digits, '-', '.', '_')`);
    this.trustDomain = options.trustDomain;
    this.clock = options.clock;
    this.defaultTtlMs = options.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    this.maxTtlMs = options.maxTtlMs ?? DEFAULT_MAX_WORKLOAD_TTL_MS;
    if (!(this.defaultTtlMs > 0) || !(this.maxTtlMs > 0)) throw new RangeError('CA TTLs must be positive');
    if (this.defaultTtlMs > this.maxTtlMs) throw new RangeError(`default TTL ${this.defaultTtlMs}ms exceeds the max TTL ${this.maxTtlMs}ms`);
    this.randomBytes = options.randomBytes ?? crypto.randomBytes;
    this.active = options.root;
    this.trusted = [{ cert: options.root.cert, pem: options.root.certPem, material: options.root }];
    for (const pem of options.additionalTrustedRootsPem ?? []) this.addTrustedRootPem(pem);
  }

  /**
   * A CA with a freshly generated self-signed root (tests, `remora ca init`). `ttlMs` is the root's
   * lifetime (default 10 years); the root's notBefore is backdated by CLOCK_SKEW_MS.
   */
  static createSelfSigned(options: {
    trustDomain?: string; keyType?: CaKeyType; rootTtlMs?: number; clock: Clock;
    defaultTtlMs?: number; maxTtlMs?: number; randomBytes?: (n: number) => Buffer;
  }): MeshCa {
    const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const root = createSelfSignedRoot({ trustDomain, keyType: options.keyType ?? 'ec', ttlMs: options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS, clock: options.clock, randomBytes: options.randomBytes });
    return new MeshCa({ trustDomain, clock: options.clock, root, defaultTtlMs: options.defaultTtlMs, maxTtlMs: options.maxTtlMs, randomBytes: options.randomBytes });
  }

  /** `spiffe://<trust-domain>/ns/<ns>/sa/<sa>` for an identity (validated). */
  spiffeIdFor(identity: WorkloadIdentity): string {
    if (!NAME_RE.test(identity.namespace)) throw new CaError('invalid-argument', `invalid namespace '${identity.namespace}'`);
    if (!NAME_RE.test(identity.serviceAccount)) throw new CaError('invalid-argument', `invalid service account '${identity.serviceAccount}'`);
    return `spiffe://${this.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
  }

  /**
   * Signs a PEM CSR for `identity` (which the caller has already authenticated). Synchronous.
   * `ttlMs` null or 0 → the default TTL; larger than the max → capped; negative → INVALID_ARGUMENT.
   * The leaf's notAfter never exceeds the active root's. Throws CaError:
   *  - invalid-argument: the CSR does not parse or verify, or uses a disallowed key (message says which);
   *  - permission-denied: the CSR asks for any identity other than `identity`'s SPIFFE ID
   *    (another URI SAN, a DNS/IP/email SAN, or a SPIFFE ID in the subject CN);
   *  - failed-precondition: the active root has expired.
   * The CSR's subject and extensions are never copied: the leaf carries only the bound identity.
   */
  sign(csrPem: string, identity: WorkloadIdentity, ttlMs: number | null = null): IssuedCertificate {
    const spiffeId = this.spiffeIdFor(identity);
    const parsed = parseAndVerifyCsr(csrPem);
    if (!parsed.ok) throw new CaError('invalid-argument', `malformed CSR: ${parsed.error}`);
    const csr = parsed.csr;
    for (const uri of csr.uris) {
      if (uri !== spiffeId) throw new CaError('permission-denied', `the CSR asks for identity '${uri}' but the caller is authenticated as '${spiffeId}'; a workload may only request its own identity`);
    }
    if (csr.commonName !== null && csr.commonName.startsWith('spiffe://') && csr.commonName !== spiffeId) {
      throw new CaError('permission-denied', `the CSR subject asks for identity '${csr.commonName}' but the caller is authenticated as '${spiffeId}'; a workload may only request its own identity`);
    }
    const extra = [
      ...csr.dnsNames.map((n) => `DNS:${n}`),
      ...csr.ipAddresses.map((n) => `IP:${n}`),
      ...csr.emails.map((n) => `email:${n}`),
      ...csr.otherNames,
    ];
    if (extra.length > 0) throw new CaError('permission-denied', `the CSR asks for ${extra.join(', ')}; the mesh CA issues only the caller's SPIFFE identity '${spiffeId}'`);
    return this.issue(csr.publicKey, spiffeId, ttlMs, null);
  }

  /**
   * Issues a certificate for a key the control plane generated itself (its own xDS/CA serving
   * certificate, `remora ca issue`): the SPIFFE ID of `identity` plus optional DNS/IP SANs so TLS
   * clients can check the host name. Returns the PEM private key with the certificate.
   */
  issueWithNewKey(identity: WorkloadIdentity, options: { ttlMs?: number | null; keyType?: CaKeyType; dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = {}): IssuedCertificate & { readonly keyPem: string } {
    const spiffeId = this.spiffeIdFor(identity);
    const { privateKey, publicKey } = generateKeyPair(options.keyType ?? 'ec');
    const issued = this.issue(publicKey, spiffeId, options.ttlMs ?? null, { dnsNames: options.dnsNames ?? [], ipAddresses: options.ipAddresses ?? [] });
    return { ...issued, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  /** PEM of every trusted root (active first), concatenated: the SDS validation-context bundle. */
  trustBundlePem(): string {
    return this.trusted.map((r) => r.pem).join('');
  }

  /** The active (signing) root certificate as PEM. */
  activeRootPem(): string {
    return this.active.certPem;
  }

  /** The trusted roots, active first. */
  roots(): readonly RootInfo[] {
    return this.trusted.map((r) => ({
      fingerprint256: r.cert.fingerprint256,
      subject: r.cert.subject,
      notAfter: new Date(r.cert.validTo),
      active: r.cert.fingerprint256 === this.active.cert.fingerprint256,
      hasKey: r.material !== null,
    }));
  }

  /**
   * Root rotation, step 1: trust (and, with a key, be able to sign with) another root. The trust
   * bundle grows; signing is unchanged. Idempotent for a root already present (by fingerprint).
   */
  addRoot(material: SigningMaterial): void {
    const i = this.indexOf(material.cert.fingerprint256);
    if (i >= 0) this.trusted[i] = { cert: material.cert, pem: material.certPem, material };
    else this.trusted = [...this.trusted, { cert: material.cert, pem: material.certPem, material }];
  }

  /** Trusts a root certificate whose key this CA does not hold (e.g. another cluster's, or a retired root). */
  addTrustedRootPem(pem: string): void {
    const cert = new crypto.X509Certificate(pem);
    if (!cert.ca) throw new RangeError(`certificate ${cert.subject} is not a CA certificate`);
    if (this.indexOf(cert.fingerprint256) >= 0) return;
    this.trusted = [...this.trusted, { cert, pem: toPem('CERTIFICATE', cert.raw), material: null }];
  }

  /**
   * Root rotation, step 2: sign with the root whose SHA-256 fingerprint (node's `fingerprint256`
   * form) is given; it moves to the front of the bundle. Throws if unknown or its key is absent.
   */
  activateRoot(fingerprint256: string): void {
    const i = this.indexOf(fingerprint256);
    if (i < 0) throw new RangeError(`no trusted root with fingerprint ${fingerprint256}`);
    const entry = this.trusted[i]!;
    if (entry.material === null) throw new RangeError(`the CA does not hold the key of root ${fingerprint256}`);
    this.active = entry.material;
    this.trusted = [entry, ...this.trusted.filter((_, j) => j !== i)];
  }

  /** Root rotation, step 3: stop trusting a root (never the active one). Returns false if unknown. */
  retireRoot(fingerprint256: string): boolean {
    if (fingerprint256 === this.active.cert.fingerprint256) throw new RangeError('cannot retire the active root; activate another first');
    const i = this.indexOf(fingerprint256);
    if (i < 0) return false;
    this.trusted = this.trusted.filter((_, j) => j !== i);
    return true;
  }

  /**
   * The identity proven by a client certificate presented over mTLS (the renewal path): the DER
   * must be a non-CA leaf signed by one of the trusted roots, valid now (Clock), whose one SPIFFE
   * URI SAN is in this trust domain. Returns null otherwise. Synchronous.
   */
  verifyWorkloadCertificate(der: Buffer): WorkloadIdentity | null {
    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(der);
    } catch {
      return null;
    }
    if (cert.ca) return null;
    const now = this.clock.now();
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return null;
    let chained = false;
    for (const root of this.trusted) {
      if (cert.checkIssued(root.cert) && cert.verify(root.cert.publicKey)) {
        chained = true;
        break;
      }
    }
    if (!chained) return null;
    const uris = (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
    const spiffe = uris.filter((u) => u.startsWith('spiffe://'));
    if (spiffe.length !== 1) return null;
    const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(spiffe[0]!);
    if (m === null || m[1] !== this.trustDomain) return null;
    return { namespace: m[2]!, serviceAccount: m[3]! };
  }

  private issue(publicKey: crypto.KeyObject, spiffeId: string, ttlMs: number | null, sans: { dnsNames: readonly string[]; ipAddresses: readonly string[] } | null): IssuedCertificate {
    if (ttlMs !== null && (!Number.isFinite(ttlMs) || ttlMs < 0)) throw new CaError('invalid-argument', `invalid validity duration ${ttlMs}ms`);
    const ttl = Math.min(ttlMs === null || ttlMs === 0 ? this.defaultTtlMs : ttlMs, this.maxTtlMs);
    const now = this.clock.now();
    const rootNotAfter = Date.parse(this.active.cert.validTo);
    if (now >= rootNotAfter) throw new CaError('failed-precondition', `the CA root expired at ${this.active.cert.validTo}; rotate the root`);
    // X.509 times have second precision: round notAfter down so the cap holds exactly.
    const notAfter = new Date(Math.floor(Math.min(now + ttl, rootNotAfter) / 1000) * 1000);
    const notBefore = new Date(Math.floor((now - CLOCK_SKEW_MS) / 1000) * 1000);
    const der = issueLeafCertificate({
      issuer: this.active,
      subjectPublicKey: publicKey,
      spiffeId,
      notBefore,
      notAfter,
      serial: randomSerial(this.randomBytes),
      dnsNames: sans?.dnsNames,
      ipAddresses: sans?.ipAddresses,
    });
    const certPem = toPem('CERTIFICATE', der);
    const x = new crypto.X509Certificate(der);
    return { spiffeId, certChainPem: [certPem, this.active.certPem], certPem, notBefore, notAfter, serialHex: x.serialNumber };
  }

  private indexOf(fingerprint256: string): number {
    for (let i = 0; i < this.trusted.length; i++) if (this.trusted[i]!.cert.fingerprint256 === fingerprint256) return i;
    return -1;
  }
}

/** Creates a self-signed root valid from now − CLOCK_SKEW_MS for `ttlMs`. */
export function createSelfSignedRoot(options: { trustDomain: string; keyType: CaKeyType; ttlMs: number; clock: Clock; rsaBits?: number; randomBytes?: (n: number) => Buffer }): SigningMaterial {
  const now = options.clock.now();
  return createRootCa({
    trustDomain: options.trustDomain,
    keyType: options.keyType,
    rsaBits: options.rsaBits,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + options.ttlMs),
    serial: randomSerial(options.randomBytes),
  });
}

/** Loads root material from PEM strings/buffers (cert + key), checking that they match. */
export function loadRoot(certPem: string | Buffer, keyPem: string | Buffer): SigningMaterial {
  return loadSigningMaterial(certPem, keyPem);
}
