/**
 * The contract every mesh config source implements (the watched file/directory `FileSource`, the
 * etcd prefix `EtcdSource`): read the YAML documents once, then watch them and report each changed
 * snapshot. Sources do not validate; the control plane passes snapshots to `loadMeshConfig`.
 */

/** The mesh config documents as YAML text, keyed by document name (file path or etcd key), sorted. */
export interface MeshSourceSnapshot {
  readonly files: ReadonlyMap<string, string>;
}

export interface MeshSourceListener {
  /** A new snapshot whose text differs from the previous one. Called asynchronously, never concurrently. */
  onChange(snapshot: MeshSourceSnapshot): void;
  /** Reading or watching failed; the previous snapshot stays current and the source keeps trying. */
  onError?(err: Error): void;
}

export interface MeshSource {
  /** Reads the documents once without watching; rejects when the source cannot be read. */
  read(): Promise<MeshSourceSnapshot>;
  /**
   * Reads the initial snapshot (rejecting like `read()`), then watches; `listener.onChange` is
   * called for every later change. Resolves with the initial snapshot (not passed to the listener).
   */
  start(listener: MeshSourceListener): Promise<MeshSourceSnapshot>;
  /**
   * Stops watching; no listener call happens after it is called. Idempotent. May return a promise
   * that settles when connections are released.
   */
  close(): void | Promise<void>;
}
