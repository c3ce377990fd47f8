/**
 * The sidecar's client of the mesh CA (`IstioCertificateService/CreateCertificate`, see
 * istio-ca-protocol.ts): sends a CSR with the requested validity and `authorization: Bearer <token>`
 * metadata, and returns the PEM chain (leaf first, root last). The token is read through a
 * provider on every call, so a rotated token file (a projected Kubernetes service-account token) is
 * picked up. One grpc-js channel per client; `close()` releases it. Retries are the caller's job
 * (WorkloadIdentity owns the backoff policy).
 */
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../core/clock';
import {
  CREATE_CERTIFICATE_PATH, decodeCertificateResponse, encodeCertificateRequest,
  type CertificateRequestMessage, type CertificateResponseMessage,
} from './istio-ca-protocol';

/** Anything that turns a CSR into a certificate chain (the gRPC client, or an in-process CA in tests). */
export interface CertificateSigner {
  /**
   * Requests a certificate for `csrPem` valid for `validitySeconds`. Resolves with the PEM chain
   * (leaf first, root last); rejects with an Error (a grpc ServiceError for the gRPC client) on any
   * failure. Never retries.
   */
  sign(csrPem: string, validitySeconds: number): Promise<readonly string[]>;
  /** Releases resources; no calls after it. */
  close(): void;
}

export interface CaClientOptions {
  /** `host:port` of the CA (the control plane). */
  readonly target: string;
  /** Returns the bearer token for each request; null sends no authorization header. */
  readonly token: () => string | null;
  /** Channel credentials (default insecure; TLS with the mesh root in production). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Wall clock for call deadlines. */
  readonly clock: Clock;
  /** Per-call deadline (default 10 s). */
  readonly timeoutMs?: number;
}

export class IstioCaClient implements CertificateSigner {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(private readonly options: CaClientOptions) {
    this.client = new grpc.Client(options.target, options.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  sign(csrPem: string, validitySeconds: number): Promise<readonly string[]> {
    const metadata = new grpc.Metadata();
    const token = this.options.token();
    if (token !== null && token !== '') metadata.set('authorization', `Bearer ${token}`);
    const request: CertificateRequestMessage = { csr: csrPem, validityDurationSeconds: validitySeconds };
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<CertificateRequestMessage, CertificateResponseMessage>(
        CREATE_CERTIFICATE_PATH,
        encodeCertificateRequest,
        decodeCertificateResponse,
        request,
        metadata,
        { deadline: this.options.clock.now() + this.timeoutMs },
        (err, value) => {
          if (err !== null || value === undefined) {
            reject(err ?? new Error('empty response from the CA'));
            return;
          }
          if (value.certChain.length === 0) {
            reject(new Error('the CA returned an empty certificate chain'));
            return;
          }
          resolve(value.certChain);
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
