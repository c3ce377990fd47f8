/**
 * The result of one upstream request attempt as outlier detection classifies it (Envoy's
 * `Outlier::Result`): the router reports one outcome per attempt through `Cluster.reportOutcome`,
 * and the cluster's `OutcomeSink` (the outlier detector, when configured) consumes it.
 */
import type { Endpoint } from './endpoint';

export const enum UpstreamOutcome {
  /** A response that is not a 5xx (for gRPC: any status except UNAVAILABLE/INTERNAL/UNKNOWN… see the router). */
  Success = 0,
  /** An HTTP 5xx other than 502/503/504 (external origin). */
  Http5xx = 1,
  /** 502, 503 or 504 from the upstream (external origin, a "gateway error"). */
  GatewayError = 2,
  /** Connect failure, reset before response, or per-try timeout (local origin). */
  LocalOriginFailure = 3,
}

/** Receives attempt outcomes for one cluster's endpoints (synchronous, hot path: no allocation). */
export interface OutcomeSink {
  report(ep: Endpoint, outcome: UpstreamOutcome): void;
}
