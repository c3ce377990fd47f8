/**
 * The sidecar's own SPIFFE identity (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`): generates a fresh
 * EC P-256 key, sends a CSR to the mesh CA (the private key never leaves this process), checks the
 * answer (the leaf carries our SPIFFE ID and our public key, and chains to the roots it came with),
 * and publishes the result to listeners (`onChange`), which the SecretManager turns into the
 * `default` (certificate + key) and `ROOTCA` (trust bundle) secrets.
 *
 * Rotation: a renewal is scheduled at `rotateFraction` of the certificate's lifetime (default 0.5)
 * ± `jitterFraction` of the lifetime (default 0.1), counted from when the certificate became usable
 * (`max(notBefore, receivedAt)`, so a CA that backdates notBefore does not cause a renewal storm).
 * A failed request is retried with exponential backoff and jitter (default 0.5 s doubling to 30 s);
 * the current certificate stays in use meanwhile, also past its expiry (peers then refuse it, which
 * is logged and counted, but there is nothing better to serve). Timers are the Runtime's (unref'd),
 * time is the Runtime's clock and jitter its random source.
 *
 * Metrics (on the Runtime registry): `remora_workload_cert_issued_total`,
 * `remora_workload_cert_rotations_total` (renewals after the first certificate),
 * `remora_workload_cert_request_failures_total`, `remora_workload_cert_expiry_timestamp_seconds`,
 * `remora_workload_root_cert_expiry_timestamp_seconds` (the earliest notAfter in the CA's trust bundle).
 */
import { X509Certificate } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Runtime } from '../../core/runtime';
import type { TimerHandle } from '../../core/timers';
import type { CertificateSigner } from './ca-client';
import { createCsrPem } from './csr';
import { splitPemCertificates } from './pem';
import { generateWorkloadKey } from './workload-key';

const COMPONENT = 'workload-identity';

export const DEFAULT_CERT_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ROTATE_FRACTION = 0.5;
export const DEFAULT_JITTER_FRACTION = 0.1;

export interface WorkloadIdentityOptions {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly signer: CertificateSigner;
  readonly runtime: Runtime;
  /** Requested certificate lifetime (default 24 h); the CA may shorten it. */
  readonly ttlMs?: number;
  /** Fraction of the lifetime after which to renew, in (0, 1) (default 0.5). */
  readonly rotateFraction?: number;
  /** Uniform jitter of the renewal time, ± this fraction of the lifetime (default 0.1, less when the fraction is near 0 or 1). */
  readonly jitterFraction?: number;
  /** Retry backoff after a failed request: first delay (default 500 ms) and cap (default 30 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

/** One issued workload certificate with its key. Immutable. */
export interface IssuedCertificate {
  readonly spiffeId: string;
  /** PEM: the leaf, then any intermediates (what a TLS peer is sent). */
  readonly certChain: Buffer;
  /** PKCS#8 PEM private key (generated here; never sent anywhere). */
  readonly privateKey: Buffer;
  /** PEM trust bundle from the CA response (its last entry; may hold several roots), or empty. */
  readonly roots: Buffer;
  /** Epoch milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serialNumber: string;
  /** Epoch milliseconds at which it was received. */
  readonly receivedAt: number;
}

export type IdentityListener = (cert: IssuedCertificate) => void;

/** Builds the SPIFFE ID for a workload, `spiffe://<td>/ns/<ns>/sa/<sa>`. */
export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

interface IdentityMetrics {
  readonly issued: Counter;
  readonly rotations: Counter;
  readonly failures: Counter;
  readonly expiry: Gauge;
  readonly rootExpiry: Gauge;
}

function identityMetrics(registry: Registry): IdentityMetrics {
  const registers = [registry];
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    issued: get('remora_workload_cert_issued_total', () => new Counter({ name: 'remora_workload_cert_issued_total', help: 'Workload certificates obtained from the CA.', registers })),
    rotations: get('remora_workload_cert_rotations_total', () => new Counter({ name: 'remora_workload_cert_rotations_total', help: 'Workload certificate renewals (after the first certificate).', registers })),
    failures: get('remora_workload_cert_request_failures_total', () => new Counter({ name: 'remora_workload_cert_request_failures_total', help: 'Failed certificate requests to the CA (each is retried with backoff).', registers })),
    expiry: get('remora_workload_cert_expiry_timestamp_seconds', () => new Gauge({ name: 'remora_workload_cert_expiry_timestamp_seconds', help: 'notAfter of the current workload certificate (Unix seconds).', registers })),
    rootExpiry: get('remora_workload_root_cert_expiry_timestamp_seconds', () => new Gauge({ name: 'remora_workload_root_cert_expiry_timestamp_seconds', help: 'Earliest notAfter among the trust bundle roots the CA returned with the workload certificate (Unix seconds).', registers })),
  };
}

export class WorkloadIdentity {
  readonly spiffeId: string;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly rotateFraction: number;
  private readonly jitterFraction: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly metrics: IdentityMetrics;
  private readonly listeners = new Set<IdentityListener>();
  private readonly firstWaiters: Array<{ resolve: (c: IssuedCertificate) => void; reject: (e: Error) => void }> = [];
  private cert: IssuedCertificate | null = null;
  private timer: TimerHandle | null = null;
  private inFlight: Promise<void> | null = null;
  private failuresInRow = 0;
  private issuedCount = 0;
  private failureCount = 0;
  private started = false;
  private closed = false;

  constructor(private readonly options: WorkloadIdentityOptions) {
    this.spiffeId = spiffeIdFor(options.trustDomain, options.namespace, options.serviceAccount);
    this.log = options.runtime.logger.child({ component: COMPONENT, spiffe_id: this.spiffeId });
    this.ttlMs = options.ttlMs ?? DEFAULT_CERT_TTL_MS;
    this.rotateFraction = options.rotateFraction ?? DEFAULT_ROTATE_FRACTION;
    this.jitterFraction = options.jitterFraction ?? Math.min(DEFAULT_JITTER_FRACTION, this.rotateFraction / 2, (1 - this.rotateFraction) / 2);
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    if (!(this.ttlMs >= 1000)) throw new RangeError(`certificate TTL must be at least 1s, got ${this.ttlMs} ms`);
    if (!(this.rotateFraction > 0 && this.rotateFraction < 1)) throw new RangeError(`rotate fraction must be in (0, 1), got ${this.rotateFraction}`);
    if (!(this.jitterFraction >= 0 && this.jitterFraction < Math.min(this.rotateFraction, 1 - this.rotateFraction))) {
      throw new RangeError(`jitter fraction must be in [0, min(f, 1-f)), got ${this.jitterFraction}`);
    }
    this.metrics = identityMetrics(options.runtime.metrics);
  }

  /**
   * Requests the first certificate (retrying with backoff until it succeeds) and keeps renewing it.
   * Resolves with the first certificate; rejects only when `close()` comes first. Idempotent.
   */
  start(): Promise<IssuedCertificate> {
    if (this.closed) return Promise.reject(new Error('workload identity closed'));
    const p = this.whenReady();
    if (!this.started) {
      this.started = true;
      void this.request();
    }
    return p;
  }

  /** Resolves with the current certificate once there is one (at once when there is). */
  whenReady(): Promise<IssuedCertificate> {
    if (this.cert !== null) return Promise.resolve(this.cert);
    if (this.closed) return Promise.reject(new Error('workload identity closed'));
    return new Promise((resolve, reject) => this.firstWaiters.push({ resolve, reject }));
  }

  /** The current certificate, or null before the first one arrived. */
  current(): IssuedCertificate | null { return this.cert; }

  /** Certificates obtained so far (1 after start; +1 per renewal). */
  get issued(): number { return this.issuedCount; }

  /** Renewals so far (issued − 1, never negative). */
  get rotations(): number { return Math.max(0, this.issuedCount - 1); }

  /** Failed CA requests so far. */
  get failures(): number { return this.failureCount; }

  /**
   * Calls `listener(cert)` (synchronously, in the renewal's completion) after every new certificate;
   * returns an unsubscribe function.
   */
  onChange(listener: IdentityListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Renews now (coalesced with a request already in flight); resolves when that attempt ended. */
  rotateNow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.started = true;
    return this.request();
  }

  /** Stops renewing; pending `start()`/`whenReady()` promises reject. The last certificate stays readable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.clear();
    this.timer = null;
    const waiters = this.firstWaiters.splice(0);
    for (const w of waiters) w.reject(new Error('workload identity closed'));
    this.listeners.clear();
  }

  // ---------------------------------------------------------------- internals

  private request(): Promise<void> {
    if (this.inFlight !== null) return this.inFlight;
    this.timer?.clear();
    this.timer = null;
    const p = this.attempt();
    this.inFlight = p;
    return p;
  }

  private async attempt(): Promise<void> {
    const key = generateWorkloadKey();
    const csr = createCsrPem({ spiffeId: this.spiffeId, privateKey: key.privateKey, publicKey: key.publicKey });
    let cert: IssuedCertificate;
    try {
      const chain = await this.options.signer.sign(csr, Math.ceil(this.ttlMs / 1000));
      cert = this.accept(chain, key.privateKey, key.privateKeyPem);
    } catch (err) {
      // Cleared before anyone hears about the outcome, so a `rotateNow()` from a callback starts a new request.
      this.inFlight = null;
      if (this.closed) return;
      this.onFailure(err);
      return;
    }
    this.inFlight = null;
    if (this.closed) return;
    this.failuresInRow = 0;
    this.cert = cert;
    this.issuedCount++;
    this.metrics.issued.inc();
    if (this.issuedCount > 1) this.metrics.rotations.inc();
    this.metrics.expiry.set(Math.floor(cert.notAfter / 1000));
    const rootsNotAfter = earliestNotAfter(cert.roots);
    if (rootsNotAfter !== null) this.metrics.rootExpiry.set(Math.floor(rootsNotAfter / 1000));
    const delay = this.renewalDelay(cert);
    this.log.info({ serial: cert.serialNumber, not_after: new Date(cert.notAfter).toISOString(), renew_in_ms: Math.round(delay) }, this.issuedCount === 1 ? 'workload certificate issued' : 'workload certificate rotated');
    this.schedule(delay);
    for (const w of this.firstWaiters.splice(0)) w.resolve(cert);
    for (const l of Array.from(this.listeners)) {
      try {
        l(cert);
      } catch (err) {
        this.log.error({ err }, 'a workload identity listener threw');
      }
    }
  }

  /** Validates the CA's answer; throws an Error naming the problem. */
  private accept(chain: readonly string[], privateKey: import('node:crypto').KeyObject, privateKeyPem: Buffer): IssuedCertificate {
    if (chain.length === 0) throw new Error('the CA returned no certificate');
    const leafPems = splitPemCertificates(chain[0]!);
    if (leafPems.length !== 1) throw new Error('the first cert_chain entry must hold exactly one certificate');
    const leaf = new X509Certificate(leafPems[0]!);
    if (!leaf.checkPrivateKey(privateKey)) throw new Error('the issued certificate does not match the requested key');
    const sans = (leaf.subjectAltName ?? '').split(', ');
    if (!sans.includes(`URI:${this.spiffeId}`)) throw new Error(`the issued certificate does not carry ${this.spiffeId} (SANs: ${leaf.subjectAltName ?? 'none'})`);
    const intermediates: string[] = [];
    for (let i = 1; i < chain.length - 1; i++) intermediates.push(...splitPemCertificates(chain[i]!));
    const roots = chain.length > 1 ? splitPemCertificates(chain[chain.length - 1]!) : [];
    // The leaf must chain (through the intermediates) to one of the roots it came with.
    let child = leaf;
    for (const pem of intermediates) {
      const parent = new X509Certificate(pem);
      if (!child.verify(parent.publicKey)) throw new Error('the certificate chain from the CA does not verify');
      child = parent;
    }
    if (roots.length > 0 && !roots.some((r) => child.verify(new X509Certificate(r).publicKey))) {
      throw new Error('the issued certificate does not chain to the root(s) in the CA response');
    }
    return {
      spiffeId: this.spiffeId,
      certChain: Buffer.from(leafPems[0]! + intermediates.join(''), 'utf8'),
      privateKey: privateKeyPem,
      roots: Buffer.from(roots.join(''), 'utf8'),
      notBefore: Date.parse(leaf.validFrom),
      notAfter: Date.parse(leaf.validTo),
      serialNumber: leaf.serialNumber,
      receivedAt: this.options.runtime.clock.now(),
    };
  }

  /** Milliseconds from now until the renewal of `cert` (≥ 0). */
  private renewalDelay(cert: IssuedCertificate): number {
    const now = this.options.runtime.clock.now();
    const start = Math.max(cert.notBefore, cert.receivedAt);
    const lifetime = Math.max(0, cert.notAfter - start);
    const jitter = (this.options.runtime.random.next() * 2 - 1) * this.jitterFraction * lifetime;
    return Math.max(0, start + lifetime * this.rotateFraction + jitter - now);
  }

  private onFailure(err: unknown): void {
    this.failureCount++;
    this.metrics.failures.inc();
    const d = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(this.failuresInRow, 30));
    this.failuresInRow++;
    let delay = d / 2 + this.options.runtime.random.next() * (d / 2);
    const cert = this.cert;
    const now = this.options.runtime.clock.now();
    if (cert !== null && cert.notAfter > now) {
      // Never sleep past the expiry of the certificate in use: retry at least once before it.
      delay = Math.min(delay, Math.max(0, (cert.notAfter - now) / 2));
    }
    const message = err instanceof Error ? err.message : String(err);
    const expired = cert !== null && cert.notAfter <= now;
    this.log.warn({ err: message, attempt: this.failuresInRow, retry_in_ms: Math.round(delay), has_certificate: cert !== null, expired }, 'certificate request failed; keeping the current certificate and retrying');
    this.schedule(delay);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer?.clear();
    this.timer = this.options.runtime.timers.setTimeout(onRenewalTimer, delayMs, this);
  }

  /** @internal timer callback */
  fireRenewal(): void {
    this.timer = null;
    if (!this.closed) void this.request();
  }
}

function onRenewalTimer(identity: WorkloadIdentity): void {
  identity.fireRenewal();
}

/** The earliest notAfter (epoch ms) of the PEM certificates in `pem`, or null when there are none or one does not parse. */
function earliestNotAfter(pem: Buffer): number | null {
  if (pem.length === 0) return null;
  let min: number | null = null;
  try {
    for (const p of splitPemCertificates(pem.toString('utf8'))) {
      const t = Date.parse(new X509Certificate(p).validTo);
      if (min === null || t < min) min = t;
    }
  } catch {
    return null;
  }
  return min;
}
