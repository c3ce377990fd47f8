/**
 * The CORS filter (`envoy.filters.http.cors`), driven by the route's CorsPolicy
 * (`typed_per_filter_config`); a route without one, or a request without `Origin`, passes
 * untouched. With Envoy's semantics:
 * - a preflight (`OPTIONS` with `Origin` and a non-empty `Access-Control-Request-Method`) from an
 *   allowed origin is answered here with 200 and `Access-Control-Allow-Origin` (the request's
 *   origin), `-Allow-Credentials`, `-Allow-Methods`, `-Allow-Headers`, `-Max-Age` (and
 *   `-Allow-Private-Network` when allowed and asked for), and is not forwarded; a preflight from an
 *   origin not allowed is forwarded (`forward_not_matching_preflights`, default true) or answered
 *   with an empty 200 without CORS headers;
 * - an actual request from an allowed origin gets `Access-Control-Allow-Origin`,
 *   `-Allow-Credentials` and `-Expose-Headers` on its response (upstream response or local reply,
 *   through `ctx.responseHeadersToAdd`).
 * The methods/headers lists are not checked against the request: the browser enforces them.
 * `filter_enabled` samples enforcement; when it is off, `shadow_enabled` still evaluates the
 * origin for the stats. Counters: `remora_cors_requests_total{listener, result}` with result
 * origin_valid | origin_invalid | preflight.
 */
import { Counter, type Registry } from 'prom-client';
import type { RandomSource } from '../../core/clock';
import { sampleFraction } from '../../core/fraction';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import type { StreamContext } from '../stream-context';
import { isCorsPolicy, type CorsPolicyConfig } from './config';

type CounterChild = ReturnType<Counter<string>['labels']>;

/** True when one of the policy's matchers accepts `origin` (or accepts `*`: any origin). */
export function isOriginAllowed(policy: CorsPolicyConfig, origin: string): boolean {
  const ms = policy.allowOrigins;
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (m.match(origin) || m.match('*')) return true;
  }
  return false;
}

/** The preflight response headers for an allowed `origin`. */
export function preflightHeaders(policy: CorsPolicyConfig, origin: string, privateNetworkRequested: boolean): Record<string, string> {
  const h: Record<string, string> = { 'access-control-allow-origin': origin };
  if (policy.allowCredentials) h['access-control-allow-credentials'] = 'true';
  if (policy.allowMethods !== null) h['access-control-allow-methods'] = policy.allowMethods;
  if (policy.allowHeaders !== null) h['access-control-allow-headers'] = policy.allowHeaders;
  if (policy.maxAge !== null) h['access-control-max-age'] = policy.maxAge;
  if (policy.allowPrivateNetworkAccess && privateNetworkRequested) h['access-control-allow-private-network'] = 'true';
  return h;
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export class CorsFactory implements HttpFilterFactory, HttpFilter {
  private readonly filterName: string;
  private readonly random: RandomSource;
  private readonly originValid: CounterChild;
  private readonly originInvalid: CounterChild;
  private readonly preflights: CounterChild;

  constructor(ctx: FilterFactoryContext) {
    this.filterName = ctx.filterName;
    this.random = ctx.runtime.random;
    const registry: Registry = ctx.runtime.metrics;
    const name = 'remora_cors_requests_total';
    const existing = registry.getSingleMetric(name) as Counter<string> | undefined;
    const c = existing ?? new Counter({ name, help: 'CORS requests by outcome (origin_valid, origin_invalid, preflight answered).', labelNames: ['listener', 'result'], registers: [registry] });
    this.originValid = c.labels(ctx.listenerName, 'origin_valid');
    this.originInvalid = c.labels(ctx.listenerName, 'origin_invalid');
    this.preflights = c.labels(ctx.listenerName, 'preflight');
  }

  createFilter(): HttpFilter { return this; }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const route = ctx.route;
    if (route === null) return FilterStatus.Continue;
    const policy = route.model.perFilterConfig[this.filterName];
    if (policy === undefined || !isCorsPolicy(policy)) return FilterStatus.Continue;
    const headers = ctx.headers;
    const origin = firstValue(headers['origin']);
    if (origin === undefined || origin === '') return FilterStatus.Continue;
    const enforce = policy.filterEnabled === null || sampleFraction(policy.filterEnabled.numerator, policy.filterEnabled.denominator, this.random);
    const allowed = isOriginAllowed(policy, origin);
    if (!enforce) {
      const shadow = policy.shadowEnabled;
      if (shadow !== null && sampleFraction(shadow.numerator, shadow.denominator, this.random)) (allowed ? this.originValid : this.originInvalid).inc();
      return FilterStatus.Continue;
    }
    (allowed ? this.originValid : this.originInvalid).inc();
    const requestMethod = firstValue(headers['access-control-request-method']);
    if (ctx.method === 'OPTIONS' && requestMethod !== undefined && requestMethod !== '') {
      if (!allowed) {
        if (policy.forwardNotMatchingPreflights) return FilterStatus.Continue;
        this.answerPreflight(ctx, {});
        return FilterStatus.StopIteration;
      }
      const pna = firstValue(headers['access-control-request-private-network']) === 'true';
      this.answerPreflight(ctx, preflightHeaders(policy, origin, pna));
      return FilterStatus.StopIteration;
    }
    if (!allowed) return FilterStatus.Continue;
    const add = ctx.responseHeadersToAdd ?? (ctx.responseHeadersToAdd = {});
    add['access-control-allow-origin'] = origin;
    if (policy.allowCredentials) add['access-control-allow-credentials'] = 'true';
    if (policy.exposeHeaders !== null) add['access-control-expose-headers'] = policy.exposeHeaders;
    return FilterStatus.Continue;
  }

  private answerPreflight(ctx: StreamContext, headers: Record<string, string>): void {
    this.preflights.inc();
    const extra = ctx.responseHeadersToAdd;
    if (extra !== null) for (const name in extra) if (headers[name] === undefined) headers[name] = extra[name]!;
    headers['content-length'] = '0';
    ctx.responseStatus = 200;
    ctx.localReplyReason = 'direct_response';
    ctx.listener.localReply('direct_response');
    ctx.downstream.respond(200, headers, true, false);
  }
}
