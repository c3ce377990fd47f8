/**
 * The node metadata of every sidecar that opened an ADS stream, by node id, for the dashboard: the
 * push status (`server/push-status.ts`) shows only identity fields, while the dashboard also needs
 * `WORKLOAD_NAME` and the sidecar's admin address (`REMORA_ADMIN_ADDRESS`, `host:port`, which the
 * sidecar adds to its node metadata once its admin server is bound). The control plane records each
 * node as its stream identifies itself; entries for nodes no longer connected are pruned by the
 * dashboard with `retain`.
 */
import type { NodeIdentity } from '../cache/resources';

/** Node metadata key: the sidecar's admin `host:port` (scraped for `/stats/prometheus`). */
export const ADMIN_ADDRESS_KEY = 'REMORA_ADMIN_ADDRESS';

/** What the dashboard reads from a node's metadata. */
export interface NodeInfo {
  readonly id: string;
  readonly workload: string | null;
  readonly namespace: string | null;
  /** `host:port` of the admin server, or null when the node did not report one (e.g. proxyless). */
  readonly adminAddress: string | null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** Latest metadata per node id. */
export class NodeDirectory {
  private readonly nodes = new Map<string, NodeInfo>();

  /** Records (or replaces) the node's metadata. Called when a stream identifies its node. */
  observe(node: NodeIdentity): void {
    const md = node.metadata ?? {};
    this.nodes.set(node.id, {
      id: node.id,
      workload: str(md['WORKLOAD_NAME']),
      namespace: str(md['NAMESPACE']),
      adminAddress: str(md[ADMIN_ADDRESS_KEY]),
    });
  }

  get(id: string): NodeInfo | null {
    return this.nodes.get(id) ?? null;
  }

  /** Forgets every node whose id `keep` rejects. */
  retain(keep: (id: string) => boolean): void {
    for (const id of [...this.nodes.keys()]) if (!keep(id)) this.nodes.delete(id);
  }

  get size(): number {
    return this.nodes.size;
  }
}
