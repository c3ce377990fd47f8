/**
 * Reads the node identity a sidecar or proxyless client asserts in `node.metadata` (see
 * docs/mesh-config.md "Node metadata") into a typed `NodeView`, and derives `translationKey`, the
 * string that determines a node's translation (nodes with equal keys get identical resources, so
 * the server can translate once per key). Metadata values that have the wrong type are ignored, as
 * if absent: node fields are client claims and translation never fails because of them.
 */
import type { NodeIdentity } from '../cache/resources';
import type { Labels } from '../mesh/model';
import { NodeMetadataKey } from '../../config/node-metadata';

export interface NodeView {
  readonly id: string;
  /** `WORKLOAD_NAME`: the WorkloadEntry this sidecar fronts; null for proxyless clients. */
  readonly workloadName: string | null;
  /** `NAMESPACE`, default `default`. */
  readonly namespace: string;
  /** `LABELS`: merged over the WorkloadEntry's labels. */
  readonly labels: Labels;
  readonly serviceAccount: string | null;
  /** `APP_PORTS`: the local app's ports (inbound cluster targets). */
  readonly appPorts: readonly number[];
  /** `PROXYLESS: true`, or no WORKLOAD_NAME: gets api_listeners instead of sidecar listeners. */
  readonly proxyless: boolean;
  /** `EGRESS_HOSTS`: hosts this node may call; null = every host in the mesh. */
  readonly egressHosts: ReadonlySet<string> | null;
  /** `OUTBOUND_PORT` / `INBOUND_PORT`: per-node listener ports (several sidecars on one machine). */
  readonly outboundPort: number | null;
  readonly inboundPort: number | null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function port(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
}

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter((x) => x !== '');
  if (typeof v === 'string') return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (typeof v === 'number') return [String(v)];
  return [];
}

/** LABELS as an object of strings, or a `k=v,k2=v2` string. */
function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const k of Object.keys(v).sort()) {
      const val = (v as Record<string, unknown>)[k];
      if (typeof val === 'string') out[k] = val;
    }
  } else if (typeof v === 'string') {
    for (const part of list(v).sort()) {
      const eq = part.indexOf('=');
      if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  return out;
}

function truthy(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

/** Reads the node's metadata. Pure; never throws. */
export function nodeView(node: NodeIdentity): NodeView {
  const md = node.metadata ?? {};
  const workloadName = str(md[NodeMetadataKey.WorkloadName]);
  const appPorts = [...new Set(list(md[NodeMetadataKey.AppPorts]).map(port).filter((p): p is number => p !== null))].sort((a, b) => a - b);
  const egress = md[NodeMetadataKey.EgressHosts] === undefined ? [] : list(md[NodeMetadataKey.EgressHosts]);
  return {
    id: node.id,
    workloadName,
    namespace: str(md[NodeMetadataKey.Namespace]) ?? 'default',
    labels: labels(md[NodeMetadataKey.Labels]),
    serviceAccount: str(md[NodeMetadataKey.ServiceAccount]),
    appPorts,
    proxyless: truthy(md[NodeMetadataKey.Proxyless]) || workloadName === null,
    egressHosts: egress.length === 0 || egress.includes('*') ? null : new Set(egress),
    outboundPort: port(md[NodeMetadataKey.OutboundPort]),
    inboundPort: port(md[NodeMetadataKey.InboundPort]),
  };
}

/**
 * The part of a node's identity translation depends on, as a stable string: two nodes with the same
 * key receive identical resource sets from `translateForNode` (node `id` is not part of it).
 */
export function translationKey(node: NodeIdentity): string {
  const v = nodeView(node);
  return JSON.stringify([
    v.proxyless, v.workloadName, v.namespace, v.labels, v.appPorts,
    v.egressHosts === null ? null : [...v.egressHosts].sort(), v.outboundPort, v.inboundPort,
  ]);
}
