/**
 * Turns a type-checked CEL subset expression (config/access-log-model.ts `CelExpr`, parsed by
 * config/compile/cel/cel-parser.ts) into a predicate over a finished request's StreamInfo. Built
 * once per listener config; evaluating allocates nothing beyond what the attributes themselves
 * produce. Errors follow CEL: a missing header or attribute is an error value, `&&` / `||` absorb it
 * when the other side decides (`false && err` is false, `true || err` is true), and an expression
 * that ends in an error does not match (Envoy: "expression errors are considered false").
 */
import { CEL_ATTRIBUTES, type CelAttribute, type CelExpr } from '../../config/access-log-model';
import { ResponseFlag, ResponseFlagFormatter } from '../../core/response-flags';
import type { StreamInfo } from '../stream-info';

/** The error value of an evaluation (a missing header, a request that has no grpc-status, …). */
const ERR: unique symbol = Symbol('cel-error');
type Value = number | string | boolean | null | typeof ERR;
type Eval = (info: StreamInfo) => Value;

/** Remora's response-flag bits → Envoy's `StreamInfo::ResponseFlag` bits (what `response.flags` is in Envoy's CEL). */
const ENVOY_FLAG_BITS: readonly (readonly [number, number])[] = [
  [ResponseFlag.NoHealthyUpstream, 0x2],
  [ResponseFlag.UpstreamRequestTimeout, 0x4],
  [ResponseFlag.LocalReset, 0x8],
  [ResponseFlag.UpstreamRemoteReset, 0x10],
  [ResponseFlag.UpstreamConnectionFailure, 0x20],
  [ResponseFlag.UpstreamOverflow, 0x80],
  [ResponseFlag.NoRouteFound, 0x100],
  [ResponseFlag.DelayInjected, 0x200],
  [ResponseFlag.FaultInjected, 0x400],
  [ResponseFlag.RateLimited, 0x800],
  [ResponseFlag.UnauthorizedExternalService, 0x1000],
  [ResponseFlag.RateLimitServiceError, 0x2000],
  [ResponseFlag.DownstreamConnectionTermination, 0x4000],
  [ResponseFlag.UpstreamRetryLimitExceeded, 0x8000],
  [ResponseFlag.StreamIdleTimeout, 0x10000],
  [ResponseFlag.DownstreamProtocolError, 0x40000],
];

/** Envoy's bitmask for a Remora flag set. */
export function envoyResponseFlags(bits: number): number {
  if (bits === 0) return 0;
  let out = 0;
  for (let i = 0; i < ENVOY_FLAG_BITS.length; i++) if ((bits & ENVOY_FLAG_BITS[i]![0]) !== 0) out |= ENVOY_FLAG_BITS[i]![1];
  return out;
}

function urlPath(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function attributeEval(name: CelAttribute): Eval {
  switch (name) {
    case 'request.method': return (i) => i.method;
    case 'request.path': return (i) => i.path;
    case 'request.url_path': return (i) => urlPath(i.path);
    case 'request.host': return (i) => i.authority;
    case 'request.scheme': return (i) => i.scheme;
    case 'request.protocol': return (i) => (i.protocol === 'h2' ? 'HTTP/2' : 'HTTP/1.1');
    case 'request.id': return (i) => i.requestId ?? ERR;
    case 'request.size': return (i) => i.bytesReceived;
    case 'response.code': return (i) => i.responseStatus;
    case 'response.grpc_status': return (i) => (i.grpcStatus < 0 ? ERR : i.grpcStatus);
    case 'response.flags': return (i) => envoyResponseFlags(i.responseFlags);
    case 'response.code_details': return (i) => i.localReplyReason ?? 'via_upstream';
    case 'response.size': return (i) => i.bytesSent;
    case 'connection.mtls': return (i) => i.connection !== null && i.connection.mutualTls;
    case 'source.address': return (i) => i.remoteAddress;
    case 'source.principal': return (i) => i.connection?.peer?.spiffeId ?? '';
    case 'upstream.address': return (i) => i.upstreamHost ?? ERR;
    case 'xds.route_name': return (i) => i.routeName ?? ERR;
    case 'xds.cluster_name': return (i) => i.upstreamCluster ?? ERR;
  }
}

function headerValue(info: StreamInfo, name: string): Value {
  const v = info.headers[name];
  if (v === undefined) return ERR;
  return typeof v === 'string' ? v : v.join(',');
}

function isFlags(e: CelExpr): boolean {
  return e.kind === 'attribute' && e.name === 'response.flags';
}

function isStringTyped(e: CelExpr): boolean {
  return (e.kind === 'literal' && e.type === 'string') || e.kind === 'header'
    || (e.kind === 'attribute' && CEL_ATTRIBUTES[e.name] === 'string');
}

function equal(a: Value, b: Value): Value {
  if (a === ERR || b === ERR) return ERR;
  return a === b;
}

class Compiler {
  readonly flags = new ResponseFlagFormatter();

  compile(e: CelExpr): Eval {
    switch (e.kind) {
      case 'literal': {
        const v = e.value;
        return () => v;
      }
      case 'attribute': return attributeEval(e.name);
      case 'header': {
        const name = e.name;
        return (i) => headerValue(i, name);
      }
      case 'headers': return () => ERR; // the parser allows it only on the right of 'in'
      case 'not': {
        const a = this.compile(e.arg);
        return (i) => {
          const v = a(i);
          return v === ERR ? ERR : !v;
        };
      }
      case 'and': {
        const l = this.compile(e.left);
        const r = this.compile(e.right);
        return (i) => {
          const a = l(i);
          if (a === false) return false;
          const b = r(i);
          if (b === false) return false;
          return a === ERR || b === ERR ? ERR : true;
        };
      }
      case 'or': {
        const l = this.compile(e.left);
        const r = this.compile(e.right);
        return (i) => {
          const a = l(i);
          if (a === true) return true;
          const b = r(i);
          if (b === true) return true;
          return a === ERR || b === ERR ? ERR : false;
        };
      }
      case 'compare': return this.compare(e.op, e.left, e.right);
      case 'in': {
        const list = e.list;
        const arg = this.operand(e.arg, list !== null && list.length > 0 ? list[0]! : null);
        if (list === null) {
          return (i) => {
            const k = arg(i);
            if (k === ERR) return ERR;
            return i.headers[(k as string).toLowerCase()] !== undefined;
          };
        }
        const items = list.map((x) => this.operand(x, e.arg));
        return (i) => {
          const v = arg(i);
          if (v === ERR) return ERR;
          let err = false;
          for (let k = 0; k < items.length; k++) {
            const w = items[k]!(i);
            if (w === ERR) err = true;
            else if (w === v) return true;
          }
          return err ? ERR : false;
        };
      }
      case 'method': {
        const t = this.compile(e.target);
        const a = this.compile(e.arg);
        const m = e.method;
        return (i) => {
          const s = t(i);
          const x = a(i);
          if (s === ERR || x === ERR) return ERR;
          return m === 'startsWith' ? (s as string).startsWith(x as string) : m === 'endsWith' ? (s as string).endsWith(x as string) : (s as string).includes(x as string);
        };
      }
    }
  }

  /** An operand; `response.flags` evaluates to its code string when `other` is string-typed. */
  private operand(e: CelExpr, other: CelExpr | null): Eval {
    if (isFlags(e) && other !== null && isStringTyped(other)) {
      const fmt = this.flags;
      return (i) => fmt.format(i.responseFlags);
    }
    return this.compile(e);
  }

  private compare(op: string, le: CelExpr, re: CelExpr): Eval {
    const l = this.operand(le, re);
    const r = this.operand(re, le);
    switch (op) {
      case '==': return (i) => equal(l(i), r(i));
      case '!=': return (i) => {
        const v = equal(l(i), r(i));
        return v === ERR ? ERR : !v;
      };
      case '<': return (i) => { const a = l(i); const b = r(i); return a === ERR || b === ERR ? ERR : (a as number) < (b as number); };
      case '<=': return (i) => { const a = l(i); const b = r(i); return a === ERR || b === ERR ? ERR : (a as number) <= (b as number); };
      case '>': return (i) => { const a = l(i); const b = r(i); return a === ERR || b === ERR ? ERR : (a as number) > (b as number); };
      default: return (i) => { const a = l(i); const b = r(i); return a === ERR || b === ERR ? ERR : (a as number) >= (b as number); };
    }
  }
}

/** A compiled CEL predicate: true when the expression evaluates to true (false on false or an error). */
export type CelPredicate = (info: StreamInfo) => boolean;

/** Compiles `expr` once (config time). */
export function compileCelPredicate(expr: CelExpr): CelPredicate {
  const ev = new Compiler().compile(expr);
  return (info) => ev(info) === true;
}
