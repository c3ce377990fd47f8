/**
 * The RBAC filter's factory (one per listener and config update) and its per-stream check. The
 * factory holds the compiled config, the metric children (bound once per action), the
 * precomputed 403 / PERMISSION_DENIED reply and one reusable `RbacRequest`; the filter has no
 * per-stream state, so every stream shares the factory instance.
 *
 * Per request: pick the route's `RBACPerRoute` (a null `rbac` there disables the filter for the
 * route), fill the request view (headers, path without query, destination port from
 * `:authority`, the peer address, the verified peer identity and request principal), evaluate
 * `shadow_rules` (counted only) and then `rules`: ALLOW lets a request through only when a policy
 * matches, DENY rejects it when one does, LOG never rejects and counts matches. A rejection is the
 * local reply `RBAC: access denied` (core/status.ts maps AccessDeniedError to 403 /
 * PERMISSION_DENIED) and `remora_rbac_denied_total{listener, action}`.
 */
import { Counter, type Registry } from 'prom-client';
import { AccessDeniedError } from '../../core/errors';
import { toSyntheticResponse, type SyntheticResponse } from '../../core/status';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendSyntheticResponse } from '../local-reply';
import type { StreamContext } from '../stream-context';
import type { RbacConfig, RbacPerRouteConfig } from './config';
import { RbacRequest, type RbacAction, type RbacRules } from './rbac-matcher';

type CounterChild = ReturnType<Counter<string>['labels']>;

/** Returns the registry's metric `name`, creating it once (factories are rebuilt on every config update). */
function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames: labelNames as L[], registers: [registry] });
}

/** Metric children of one action (label values fixed at config time). */
class ActionCounters {
  constructor(
    readonly allowed: CounterChild,
    readonly denied: CounterChild,
    readonly shadowAllowed: CounterChild,
    readonly shadowDenied: CounterChild,
  ) {}
}

/** The port of an `:authority` (`host:port`, `[v6]:port`), or `dflt` when it names none. Allocation-free. */
export function authorityPort(authority: string, dflt: number): number {
  let port = 0;
  let mult = 1;
  for (let i = authority.length - 1; i >= 0; i--) {
    const c = authority.charCodeAt(i);
    if (c === 58 /* : */) {
      if (mult === 1) return dflt;
      // `[::1]` without port: the colon is inside brackets.
      return authority.charCodeAt(authority.length - 1) === 93 ? dflt : port;
    }
    if (c < 48 || c > 57 || mult > 10_000) return dflt;
    port += (c - 48) * mult;
    mult *= 10;
  }
  return dflt;
}

export class RbacFactory implements HttpFilterFactory, HttpFilter {
  private readonly filterName: string;
  private readonly reply: SyntheticResponse;
  private readonly byAction: Readonly<Record<RbacAction, ActionCounters>>;
  private readonly logged: CounterChild;
  /** Reused per request (the filter runs synchronously; never re-entered). */
  private readonly req = new RbacRequest();

  constructor(private readonly config: RbacConfig, ctx: FactoryCtx) {
    this.filterName = ctx.filterName;
    const m = ctx.runtime.metrics;
    const labels = ['listener', 'action'] as const;
    const denied = counter(m, 'remora_rbac_denied_total', 'Requests the RBAC filter rejected (403 / PERMISSION_DENIED), by the rejecting rules\' action.', labels);
    const allowed = counter(m, 'remora_rbac_allowed_total', 'Requests the RBAC filter let through, by the rules\' action.', labels);
    const shadowDenied = counter(m, 'remora_rbac_shadow_denied_total', 'Requests the shadow rules would have rejected (not enforced).', labels);
    const shadowAllowed = counter(m, 'remora_rbac_shadow_allowed_total', 'Requests the shadow rules would have let through.', labels);
    const logged = counter(m, 'remora_rbac_logged_total', 'Requests a LOG (Istio AUDIT) policy matched.', ['listener'] as const);
    const l = ctx.listenerName;
    const of = (a: string): ActionCounters => new ActionCounters(allowed.labels(l, a), denied.labels(l, a), shadowAllowed.labels(l, a), shadowDenied.labels(l, a));
    this.byAction = { ALLOW: of('allow'), DENY: of('deny'), LOG: of('log') };
    this.logged = logged.labels(l);
    this.reply = toSyntheticResponse(new AccessDeniedError(null));
  }

  /** The filter is stateless per stream: every stream shares this instance. */
  createFilter(): HttpFilter {
    return this;
  }

  /** Synchronous: Continue, or StopIteration after the 403 / PERMISSION_DENIED reply. Never throws. */
  onRequestHeaders(ctx: StreamContext): FilterStatus {
    let cfg = this.config;
    const route = ctx.route;
    if (route !== null) {
      const pr = route.model.perFilterConfig[this.filterName] as RbacPerRouteConfig | undefined;
      if (pr !== undefined && pr.kind === 'rbac_per_route') {
        if (pr.rbac === null) return FilterStatus.Continue;
        cfg = pr.rbac;
      }
    }
    if (cfg.rules === null && cfg.shadow === null) return FilterStatus.Continue;
    const req = this.req;
    this.fill(req, ctx);
    if (cfg.shadow !== null) this.shadow(cfg.shadow, req);
    const rules = cfg.rules;
    let allowed = true;
    if (rules !== null) {
      const matched = rules.firstMatch(req);
      allowed = rules.allows(matched);
      const counters = this.byAction[rules.action];
      if (rules.action === 'LOG' && matched !== null) this.logged.inc();
      if (allowed) counters.allowed.inc();
      else counters.denied.inc();
    }
    req.peer = null;
    req.requestPrincipal = null;
    req.headers = EMPTY;
    if (allowed) return FilterStatus.Continue;
    sendSyntheticResponse(ctx, this.reply);
    return FilterStatus.StopIteration;
  }

  private shadow(rules: RbacRules, req: RbacRequest): void {
    const counters = this.byAction[rules.action];
    if (rules.allows(rules.firstMatch(req))) counters.shadowAllowed.inc();
    else counters.shadowDenied.inc();
  }

  private fill(req: RbacRequest, ctx: StreamContext): void {
    req.headers = ctx.headers;
    const p = ctx.path;
    let end = p.indexOf('?');
    const hash = p.indexOf('#');
    if (hash !== -1 && (end === -1 || hash < end)) end = hash;
    req.pathNoQuery = end === -1 ? p : p.slice(0, end);
    req.destinationPort = authorityPort(ctx.authority, ctx.scheme === 'https' ? 443 : 80);
    req.remoteIp.parse(ctx.remoteAddress);
    req.peer = ctx.peer;
    req.requestPrincipal = ctx.requestPrincipal;
  }
}

const EMPTY = Object.freeze({});

type FactoryCtx = FilterFactoryContext;
