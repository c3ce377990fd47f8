/**
 * The mesh CA's typed errors. Each carries a stable `code` and the gRPC status it maps to; the CA
 * service (`ca-service.ts`) is the one place that turns them into a gRPC status. Messages are
 * client-visible and name the problem (which CSR check failed, which identity was asked for);
 * they never include key material or token values.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export type CaErrorKind = 'invalid-argument' | 'permission-denied' | 'unauthenticated' | 'failed-precondition';

const GRPC_BY_KIND: Readonly<Record<CaErrorKind, GrpcStatus>> = {
  'invalid-argument': GrpcStatus.INVALID_ARGUMENT,
  'permission-denied': GrpcStatus.PERMISSION_DENIED,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  'failed-precondition': GrpcStatus.FAILED_PRECONDITION,
};

const CODE_BY_KIND: Readonly<Record<CaErrorKind, string>> = {
  'invalid-argument': 'REMORA_ERR_CA_INVALID_REQUEST',
  'permission-denied': 'REMORA_ERR_CA_IDENTITY_DENIED',
  unauthenticated: 'REMORA_ERR_CA_UNAUTHENTICATED',
  'failed-precondition': 'REMORA_ERR_CA_UNAVAILABLE',
};

/** A refused CA request. `message` is safe to send to the caller. */
export class CaError extends Error {
  readonly code: string;
  readonly grpcStatus: GrpcStatus;

  constructor(readonly kind: CaErrorKind, message: string) {
    super(message);
    this.name = 'CaError';
    this.code = CODE_BY_KIND[kind];
    this.grpcStatus = GRPC_BY_KIND[kind];
  }
}
