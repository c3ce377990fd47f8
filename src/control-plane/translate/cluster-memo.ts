/**
 * `ClusterMemo` reuses the Cluster and ClusterLoadAssignment objects `emitCluster` built, for as long
 * as everything they are computed from is the very same object: the mesh fields in `CLUSTER_INPUTS`
 * (the compiler keeps `emitCluster` to those) and the mTLS options. Within one config change that
 * shares a cluster among all the nodes that call its service. Across changes that left those fields
 * alone it shares it across generations: the incremental reload of a VirtualService edit keeps every
 * other field of the MeshConfig. A reused object keeps its identity. The snapshot encoder therefore
 * finds it in its identity memo and neither serializes nor encodes it again, and `deepFreeze` stops
 * at it. Any other change empties the memo, so it holds the clusters of one set of inputs only.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { deepFreeze } from '../../config/model';
import { CLUSTER_INPUTS, emitCluster, type ClusterInputs, type ClusterKey } from './clusters';
import type { MtlsTranslateOptions } from './mtls';
import { outboundClusterName } from './names';

interface MemoEntry {
  readonly mtls: MtlsTranslateOptions | null;
  readonly cluster: ProtoObject | null;
  readonly assignment: ProtoObject | null;
}

export class ClusterMemo {
  private inputs: readonly unknown[] = [];
  private readonly entries = new Map<string, MemoEntry>();

  /** Same contract as `emitCluster`; the objects it adds are deep-frozen and may be shared. */
  emit(
    mesh: ClusterInputs, key: ClusterKey, proxyless: boolean,
    clusters: Map<string, ProtoObject>, assignments: Map<string, ProtoObject>,
    mtls: MtlsTranslateOptions | null = null,
  ): void {
    const name = outboundClusterName(key.port, key.host, key.subset);
    if (clusters.has(name)) return;
    this.track(mesh);
    const id = (proxyless ? 'proxyless ' : 'sidecar ') + name;
    let entry = this.entries.get(id);
    if (entry === undefined || entry.mtls !== mtls) {
      const c = new Map<string, ProtoObject>();
      const a = new Map<string, ProtoObject>();
      emitCluster(mesh, key, proxyless, c, a, mtls);
      entry = { mtls, cluster: deepFreeze(c.get(name) ?? null), assignment: deepFreeze(a.get(name) ?? null) };
      this.entries.set(id, entry);
    }
    if (entry.cluster !== null) clusters.set(name, entry.cluster);
    if (entry.assignment !== null) assignments.set(name, entry.assignment);
  }

  /** Number of clusters held (for tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Empties the memo when any input field is another object than last time. */
  private track(mesh: ClusterInputs): void {
    let same = this.inputs.length === CLUSTER_INPUTS.length;
    for (let i = 0; same && i < CLUSTER_INPUTS.length; i++) same = this.inputs[i] === mesh[CLUSTER_INPUTS[i]!];
    if (same) return;
    this.inputs = CLUSTER_INPUTS.map((f) => mesh[f]);
    this.entries.clear();
  }
}
