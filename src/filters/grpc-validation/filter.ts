/**
 * The schema-validation filter's factory (one per listener and config update) and its per-request
 * decision. For a gRPC request (as forwarded, i.e. after any transcoder or gRPC-Web filter) whose
 * `:path` is a validated method, and whose route does not disable the filter, it wraps the stream's
 * downstream with a `ValidatingDownstream` whose body forwards only validated messages
 * (validating-downstream.ts). Single-request methods (unary, server streaming) return
 * StopIteration until their message is valid, so the upstream is only called with a valid message;
 * streaming-request methods continue at once and are cancelled at the first invalid message. Every
 * other request passes untouched at the cost of one map lookup. Metric children are bound here.
 */
import { sendLocalReply } from '../local-reply';
import { Counter, type Registry } from 'prom-client';
import { PerRouteStates } from '../per-route';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import type { StreamContext } from '../stream-context';
import type { MessageRejection, ValidatorTable } from '../../codec/validate/message-validator';
import { isGrpcValidationPerRoute, type GrpcValidationConfig, type GrpcValidationPerRouteConfig } from './config';
import { checkBody, CollectedBody, messageEncoding, ValidatedBody, ValidatingDownstream, type ValidationCounters } from './validating-downstream';

type CounterChild = ReturnType<Counter<string>['labels']>;

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** The filter's counters for one listener, children bound once. */
export class GrpcValidationMetrics implements ValidationCounters {
  private readonly messages: CounterChild;
  private readonly decode: CounterChild;
  private readonly constraint: CounterChild;
  private readonly error: CounterChild;

  constructor(registry: Registry, listener: string) {
    this.messages = counter(registry, 'remora_grpc_validation_messages_total', 'gRPC request messages that passed schema validation.', ['listener']).labels(listener);
    const failures = counter(registry, 'remora_grpc_validation_failures_total', 'gRPC request messages refused by schema validation, by reason (decode|constraint|error).', ['listener', 'reason']);
    this.decode = failures.labels(listener, 'decode');
    this.constraint = failures.labels(listener, 'constraint');
    this.error = failures.labels(listener, 'error');
  }

  countValid(): void { this.messages.inc(); }

  countRejected(reason: MessageRejection['reason']): void {
    if (reason === 'constraint') this.constraint.inc();
    else if (reason === 'decode') this.decode.inc();
    else this.error.inc();
  }
}

function perRouteState(c: GrpcValidationPerRouteConfig): boolean { return c.disabled; }

export class GrpcValidationFactory implements HttpFilterFactory, HttpFilter {
  private readonly table: ValidatorTable;
  private readonly maxMessageBytes: number;
  private readonly metrics: GrpcValidationMetrics;
  private readonly perRoute: PerRouteStates<GrpcValidationPerRouteConfig, boolean>;

  constructor(config: GrpcValidationConfig, ctx: FilterFactoryContext) {
    this.table = config.table;
    this.maxMessageBytes = config.maxMessageBytes;
    this.metrics = new GrpcValidationMetrics(ctx.runtime.metrics, ctx.listenerName);
    this.perRoute = new PerRouteStates(ctx.filterName, isGrpcValidationPerRoute, perRouteState);
  }

  /** Stateless per stream: all streams share this instance. */
  createFilter(): HttpFilter {
    return this;
  }

  /**
   * Continue for requests it does not validate and for streaming-request methods (wrapped);
   * StopIteration for single-request methods until their message is valid (then it calls
   * `ctx.continueChain()`) or refused (then it replied). Never throws.
   */
  onRequestHeaders(ctx: StreamContext): FilterStatus {
    if (!ctx.isGrpc) return FilterStatus.Continue;
    const path = ctx.headers[':path'];
    if (typeof path !== 'string') return FilterStatus.Continue;
    const validator = this.table.get(path);
    if (validator === null) return FilterStatus.Continue;
    if (this.perRoute.forRoute(ctx.route, false)) return FilterStatus.Continue;
    const ds = ctx.downstream;
    const encoding = messageEncoding(ctx.headers['grpc-encoding']);
    // A codec filter before this one (the transcoder) already holds the whole request: check it now.
    const complete = ds.completeBody ?? null;
    if (complete !== null) {
      for (let i = 0; i < complete.length; i++) {
        const refusal = checkBody(complete[i]!, validator, this.metrics, encoding, this.maxMessageBytes);
        if (refusal === null) continue;
        this.metrics.countRejected(refusal.reason);
        sendLocalReply(ctx, refusal.error);
        return FilterStatus.StopIteration;
      }
      return FilterStatus.Continue;
    }
    const source = ds.body;
    // No body at all: no message to check (the upstream answers as it would without the filter).
    if (source === null) return FilterStatus.Continue;
    if (!validator.clientStreaming) {
      // One request message: collect, validate at END_STREAM, then go on with the complete body.
      new CollectedBody(source, ctx, ds, validator, this.metrics, encoding, this.maxMessageBytes).start();
      return FilterStatus.StopIteration;
    }
    const body = new ValidatedBody(source, ctx, validator, this.metrics, encoding, this.maxMessageBytes);
    ctx.wrapDownstream(new ValidatingDownstream(ds, body), true);
    body.start();
    return FilterStatus.Continue;
  }
}
