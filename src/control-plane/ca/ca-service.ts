/**
 * The mesh CA over gRPC: `istio.v1.auth.IstioCertificateService/CreateCertificate`. `addCaService`
 * mounts the handler on any grpc-js Server (the control plane mounts it next to ADS, so the CA and
 * xDS share a port); `CaServer` runs it standalone on its own port (tests, tools). Authentication
 * (docs/security.md): an `authorization: Bearer <token>` header resolved by the CaAuthenticator, or,
 * with no token, a workload client certificate from this CA presented over mTLS (renewal of the
 * same identity). The handler is the one place CaErrors become gRPC statuses: UNAUTHENTICATED
 * (no/unknown credentials), INVALID_ARGUMENT (malformed CSR, bad validity), PERMISSION_DENIED (a CSR
 * for another identity), FAILED_PRECONDITION (expired root), UNAVAILABLE (authenticator failure),
 * INTERNAL (anything else; details go to the log only).
 */
import { CONTROL_PLANE_IDENTITY } from '../../transport/peer-identity';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Runtime } from '../../core/runtime';
import type { CaAuthenticator } from './ca-authenticator';
import { CaError } from './ca-errors';
import { loadCaDefinition, type CaDefinition, type WireCertificateRequest, type WireCertificateResponse } from './ca-proto';
import type { MeshCa, WorkloadIdentity } from './mesh-ca';

const COMPONENT = 'ca';

/** The control plane's own identity (its serving certificate's SPIFFE ID); defined with the other identities in transport/. */
export { CONTROL_PLANE_IDENTITY };

export interface CaServiceOptions {
  /** Logger and metrics registry (`remora_ca_*`); without it the service logs nothing and keeps no metrics. */
  readonly runtime?: Runtime;
  /** A definition loaded earlier (saves a proto load). */
  readonly definition?: CaDefinition;
}

/** How a call authenticated, for logs and metrics. */
type AuthMethod = 'token' | 'mtls';

class CaMetrics {
  constructor(readonly issued: Counter<'method'>, readonly refused: Counter<'reason'>) {}

  static create(registry: Registry): CaMetrics {
    const issued = (registry.getSingleMetric('remora_ca_certificates_issued_total') as Counter<'method'> | undefined)
      ?? new Counter({ name: 'remora_ca_certificates_issued_total', help: 'Workload certificates issued by the mesh CA, by authentication method.', labelNames: ['method'], registers: [registry] });
    const refused = (registry.getSingleMetric('remora_ca_requests_refused_total') as Counter<'reason'> | undefined)
      ?? new Counter({ name: 'remora_ca_requests_refused_total', help: 'CSR requests the mesh CA refused, by reason (gRPC status name).', labelNames: ['reason'], registers: [registry] });
    return new CaMetrics(issued, refused);
  }
}

/**
 * Registers `IstioCertificateService` on `server` (before or after bindAsync). Each
 * CreateCertificate call authenticates the caller, then `ca.sign()`s its CSR for exactly the
 * authenticated identity. Returns nothing; the handler lives as long as the server.
 */
export function addCaService(server: grpc.Server, ca: MeshCa, authenticator: CaAuthenticator, options: CaServiceOptions = {}): void {
  const definition = options.definition ?? loadCaDefinition();
  const logger = options.runtime !== undefined ? options.runtime.logger.child({ component: COMPONENT }) : null;
  const metrics = options.runtime !== undefined ? CaMetrics.create(options.runtime.metrics) : null;
  const handler = new CreateCertificateHandler(ca, authenticator, logger, metrics);
  server.addService(definition.service, {
    CreateCertificate: (call: grpc.ServerUnaryCall<WireCertificateRequest, WireCertificateResponse>, callback: grpc.sendUnaryData<WireCertificateResponse>) => {
      handler.handle(call, callback);
    },
  });
}

class CreateCertificateHandler {
  constructor(
    private readonly ca: MeshCa,
    private readonly authenticator: CaAuthenticator,
    private readonly logger: Logger | null,
    private readonly metrics: CaMetrics | null,
  ) {}

  handle(call: grpc.ServerUnaryCall<WireCertificateRequest, WireCertificateResponse>, callback: grpc.sendUnaryData<WireCertificateResponse>): void {
    this.run(call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(this.toStatus(err, call)),
    );
  }

  private async run(call: grpc.ServerUnaryCall<WireCertificateRequest, WireCertificateResponse>): Promise<WireCertificateResponse> {
    const [identity, method] = await this.authenticate(call);
    const req = call.request;
    const ttlMs = parseValidity(req.validity_duration);
    const issued = this.ca.sign(req.csr, identity, ttlMs);
    this.metrics?.issued.inc({ method });
    this.logger?.info({ spiffeId: issued.spiffeId, serial: issued.serialHex, notAfter: issued.notAfter.toISOString(), method, peer: call.getPeer() }, 'issued workload certificate');
    return { cert_chain: [...issued.certChainPem] };
  }

  private async authenticate(call: grpc.ServerUnaryCall<WireCertificateRequest, WireCertificateResponse>): Promise<[WorkloadIdentity, AuthMethod]> {
    const values = call.metadata.get('authorization');
    if (values.length > 1) throw new CaError('unauthenticated', 'more than one authorization header');
    if (values.length === 1) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(String(values[0]));
      if (m === null) throw new CaError('unauthenticated', "malformed authorization header (expected 'Bearer <token>')");
      let identity: WorkloadIdentity | null;
      try {
        identity = await this.authenticator.authenticateToken(m[1]!);
      } catch (err) {
        this.logger?.warn({ err }, 'CA token authenticator failed');
        throw new AuthenticatorUnavailable();
      }
      if (identity === null) throw new CaError('unauthenticated', 'unknown or expired bearer token');
      return [identity, 'token'];
    }
    const peerCert = call.getAuthContext()?.sslPeerCertificate;
    if (peerCert !== undefined && peerCert.raw !== undefined) {
      const identity = this.ca.verifyWorkloadCertificate(peerCert.raw);
      if (identity === null) throw new CaError('unauthenticated', 'the client certificate is not a valid, unexpired workload certificate from this mesh CA');
      return [identity, 'mtls'];
    }
    throw new CaError('unauthenticated', "missing credentials: send 'authorization: Bearer <token>' metadata, or renew over mTLS with a workload certificate from this CA");
  }

  private toStatus(err: unknown, call: grpc.ServerUnaryCall<WireCertificateRequest, WireCertificateResponse>): Partial<grpc.StatusObject> {
    if (err instanceof CaError) {
      this.metrics?.refused.inc({ reason: grpc.status[err.grpcStatus] });
      this.logger?.warn({ code: err.code, reason: err.message, peer: call.getPeer() }, 'refused CSR');
      return { code: err.grpcStatus, details: err.message };
    }
    if (err instanceof AuthenticatorUnavailable) {
      this.metrics?.refused.inc({ reason: 'UNAVAILABLE' });
      return { code: grpc.status.UNAVAILABLE, details: 'the CA cannot verify credentials right now; retry' };
    }
    this.metrics?.refused.inc({ reason: 'INTERNAL' });
    this.logger?.error({ err, peer: call.getPeer() }, 'CA internal error');
    return { code: grpc.status.INTERNAL, details: 'internal CA error' };
  }
}

class AuthenticatorUnavailable extends Error {}

/** `validity_duration` (int64 seconds, decimal string) → ms; '0' → null (default TTL). */
function parseValidity(value: string | number): number | null {
  const s = String(value);
  if (!/^-?\d+$/.test(s)) throw new CaError('invalid-argument', `validity_duration must be an integer number of seconds, got '${s}'`);
  const n = Number(s);
  if (n < 0) throw new CaError('invalid-argument', `validity_duration must not be negative, got ${s}`);
  if (n === 0) return null;
  // Anything beyond ~285k years is capped by the max TTL anyway; avoid overflow to Infinity.
  return Math.min(n, 1e13) * 1000;
}

/**
 * A grpc-js CertificateProvider holding certificates in memory: one object serves both the CA
 * (trust bundle) and identity roles. `update()` pushes new material to every listener (root
 * rotation, serving-certificate renewal); listeners get the current value on the next tick after
 * they subscribe.
 */
export class StaticCertificateProvider implements grpc.experimental.CertificateProvider {
  private ca: grpc.experimental.CaCertificateUpdate;
  private identity: grpc.experimental.IdentityCertificateUpdate | null;
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(caPem: string, identity: { certPem: string; keyPem: string } | null) {
    this.ca = { caCertificate: Buffer.from(caPem) };
    this.identity = identity === null ? null : { certificate: Buffer.from(identity.certPem), privateKey: Buffer.from(identity.keyPem) };
  }

  /** Replaces the trust bundle and/or identity and notifies listeners. */
  update(caPem: string | null, identity: { certPem: string; keyPem: string } | null): void {
    if (caPem !== null) {
      this.ca = { caCertificate: Buffer.from(caPem) };
      for (const l of this.caListeners) l(this.ca);
    }
    if (identity !== null) {
      this.identity = { certificate: Buffer.from(identity.certPem), privateKey: Buffer.from(identity.keyPem) };
      for (const l of this.identityListeners) l(this.identity);
    }
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    // Asynchronously: grpc-js registers its credential watcher only after adding the listener.
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener(this.ca);
    });
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(this.identity);
    });
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }
}

export interface CaServerCredentials {
  readonly credentials: grpc.ServerCredentials;
  /** Push a new trust bundle (after `MeshCa.addRoot/activateRoot/retireRoot`) or serving identity. */
  readonly provider: StaticCertificateProvider;
}

/**
 * TLS server credentials for a CA/xDS port: a serving certificate the CA issues to itself
 * (`CONTROL_PLANE_IDENTITY` + the given DNS/IP SANs, default `localhost` and `127.0.0.1`), the CA's
 * trust bundle for client certificates, and an optional client certificate (`requireClientCertificate`
 * false: token callers need none; a presented certificate must chain to the bundle).
 */
export function createCaServerCredentials(ca: MeshCa, options: { dnsNames?: readonly string[]; ipAddresses?: readonly string[]; requireClientCertificate?: boolean } = {}): CaServerCredentials {
  const serving = ca.issueWithNewKey(CONTROL_PLANE_IDENTITY, { dnsNames: options.dnsNames ?? ['localhost'], ipAddresses: options.ipAddresses ?? ['127.0.0.1'] });
  const provider = new StaticCertificateProvider(ca.trustBundlePem(), { certPem: serving.certChainPem.join(''), keyPem: serving.keyPem });
  // grpc-js 1.14's d.ts and implementation disagree on the order of the two provider arguments;
  // one object serving both roles makes the order irrelevant.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, options.requireClientCertificate ?? false);
  return { credentials, provider };
}

export interface CaServerOptions extends CaServiceOptions {
  readonly ca: MeshCa;
  readonly authenticator: CaAuthenticator;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (ephemeral). */
  readonly port?: number;
  /** 'tls' (default): serving certificate from the CA, optional client certificates; 'insecure': plaintext (tests only). */
  readonly transport?: 'tls' | 'insecure';
}

/** The CA service alone on its own port. */
export class CaServer {
  private constructor(private readonly server: grpc.Server, readonly port: number, readonly host: string, readonly provider: StaticCertificateProvider | null) {}

  /** Binds and starts serving. Rejects when the port cannot be bound. */
  static async start(options: CaServerOptions): Promise<CaServer> {
    const server = new grpc.Server();
    addCaService(server, options.ca, options.authenticator, options);
    const host = options.host ?? '127.0.0.1';
    const creds = (options.transport ?? 'tls') === 'tls' ? createCaServerCredentials(options.ca) : null;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${options.port ?? 0}`, creds?.credentials ?? grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    return new CaServer(server, port, host, creds?.provider ?? null);
  }

  /** `host:port` for clients. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Stops accepting calls; in-flight calls get `graceMs` (default 1 s) before a forced shutdown. */
  async close(graceMs = 1000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
