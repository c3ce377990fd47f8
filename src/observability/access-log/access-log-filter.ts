/**
 * Envoy's AccessLogFilter tree (config/access-log-model.ts) compiled into one predicate over a
 * finished request, once per listener config. Semantics follow Envoy's `config.accesslog.v3`:
 * status code / duration comparisons (EQ, GE, LE), response flags (any of a set), gRPC status (the
 * response's grpc-status, or the one derived from the HTTP status when there is none; `exclude`
 * inverts), runtime sampling (a FractionalPercent drawn from the Runtime's RandomSource), and / or
 * (short-circuit), not-health-check (always true here) and the CEL subset (cel-evaluator.ts).
 */
import type { AccessLogFilterModel, ComparisonOp } from '../../config/access-log-model';
import type { RandomSource } from '../../core/clock';
import { sampleFraction } from '../../core/fraction';
import { httpStatusToGrpcStatus } from '../../core/status';
import type { StreamInfo } from '../stream-info';
import { compileCelPredicate } from './cel-evaluator';

export type AccessLogPredicate = (info: StreamInfo) => boolean;

const ALWAYS: AccessLogPredicate = () => true;

function compare(op: ComparisonOp, actual: number, value: number): boolean {
  return op === 'EQ' ? actual === value : op === 'GE' ? actual >= value : actual <= value;
}

/** The grpc-status a gRPC status filter sees (Envoy derives one from the HTTP status when absent). */
function effectiveGrpcStatus(info: StreamInfo): number {
  if (info.grpcStatus >= 0) return info.grpcStatus;
  return httpStatusToGrpcStatus(info.responseStatus); // 200 and 0 (no response) → UNKNOWN, as Envoy
}

/** Compiles `model` (config time). */
export function compileAccessLogFilter(model: AccessLogFilterModel, random: RandomSource): AccessLogPredicate {
  switch (model.kind) {
    case 'status_code': {
      const { op, value } = model;
      return (i) => compare(op, i.responseStatus, value);
    }
    case 'duration': {
      const { op, valueMs } = model;
      return (i) => compare(op, Math.floor(i.endTime - i.startTime), valueMs);
    }
    case 'response_flag': {
      const mask = model.mask;
      return (i) => (i.responseFlags & mask) !== 0;
    }
    case 'grpc_status': {
      const set = new Set(model.statuses);
      const exclude = model.exclude;
      return (i) => set.has(effectiveGrpcStatus(i)) !== exclude;
    }
    case 'runtime': {
      const { numerator, denominator } = model;
      return () => sampleFraction(numerator, denominator, random);
    }
    case 'and': {
      const subs = model.filters.map((f) => compileAccessLogFilter(f, random));
      return (i) => {
        for (let k = 0; k < subs.length; k++) if (!subs[k]!(i)) return false;
        return true;
      };
    }
    case 'or': {
      const subs = model.filters.map((f) => compileAccessLogFilter(f, random));
      return (i) => {
        for (let k = 0; k < subs.length; k++) if (subs[k]!(i)) return true;
        return false;
      };
    }
    case 'not_health_check': return ALWAYS;
    case 'cel': return compileCelPredicate(model.expr);
  }
}
