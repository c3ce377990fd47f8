/**
 * The control plane's descriptor sources for GrpcTranscoder/GrpcValidation documents: turns a
 * document's `descriptors` (`.proto` files with import paths, or a FileDescriptorSet file) into
 * checked FileDescriptorSet bytes, caches each result while none of the files it read changed
 * (stat signature: mtime, size, inode), and watches those files so an edit to a `.proto` (or set)
 * is noticed without a change to the mesh YAML: `startWatching(onChange)` polls the signatures of
 * every file the current results depend on and calls `onChange` when one differs. One instance
 * per control plane (or per `remora validate` run); no module state.
 */
import * as fs from 'node:fs';
import { createFileRegistry, fromBinary, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoFiles, type ProtoCompileError } from '../../config/compile/compile-proto';

/** A document's `descriptors`, paths absolute. */
export type DescriptorSourceSpec =
  | { readonly kind: 'protoFiles'; readonly protoFiles: readonly string[]; readonly importPaths: readonly string[] }
  | { readonly kind: 'descriptorSet'; readonly path: string }
  /** GrpcTranscoder only: the sidecar fetches the descriptors from the app (gRPC server reflection); nothing to resolve here. */
  | { readonly kind: 'reflection' };

export type ResolvedDescriptors =
  | { readonly ok: true; readonly descriptorSet: Buffer; readonly registry: FileRegistry }
  | { readonly ok: false; readonly error: ProtoCompileError };

interface Entry {
  readonly result: ResolvedDescriptors;
  /** file → stat signature at compile time. */
  readonly signatures: ReadonlyMap<string, string>;
}

export interface DescriptorSourcesOptions {
  /** Signature poll interval of `startWatching` (default 500 ms). */
  readonly pollIntervalMs?: number;
}

export class DescriptorSources {
  private entries = new Map<string, Entry>();
  private used = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private onChange: (() => void) | null = null;
  private readonly pollIntervalMs: number;

  constructor(options: DescriptorSourcesOptions = {}) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
  }

  /**
   * The descriptors of `spec`: from the cache when every file it read is unchanged, else compiled
   * or read again. Synchronous; never throws. Marks the entry as in use for the current round.
   */
  resolve(spec: DescriptorSourceSpec): ResolvedDescriptors {
    if (spec.kind === 'reflection') return { ok: false, error: { file: null, line: null, message: 'descriptors from server reflection are fetched by the sidecar, not resolved by the control plane' } };
    const key = JSON.stringify(spec);
    const cached = this.used.get(key) ?? this.entries.get(key);
    if (cached !== undefined && unchanged(cached.signatures)) {
      this.used.set(key, cached);
      return cached.result;
    }
    const entry = spec.kind === 'protoFiles' ? compileEntry(spec) : readSetEntry(spec.path);
    this.used.set(key, entry);
    return entry.result;
  }

  /** Ends a round (one config load): forgets entries not resolved since the previous sweep. */
  sweep(): void {
    this.entries = this.used;
    this.used = new Map();
  }

  /** Every file the current entries were built from (absolute paths, sorted). */
  watchedFiles(): string[] {
    const out = new Set<string>();
    for (const e of [...this.entries.values(), ...this.used.values()]) for (const f of e.signatures.keys()) out.add(f);
    return [...out].sort();
  }

  /**
   * Polls the files of the current entries; `onChange` is called (at most once per poll) when one
   * of them changed since it was read. The timer is unref'd. Idempotent.
   */
  startWatching(onChange: () => void): void {
    this.onChange = onChange;
    if (this.timer !== null) return;
    this.timer = setInterval(pollTick, this.pollIntervalMs, this);
    this.timer.unref();
  }

  /** Stops watching; no `onChange` call after it returns. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.onChange = null;
  }

  /** @internal One poll: reports a change when some entry's files differ from their signatures. */
  poll(): void {
    if (this.onChange === null) return;
    for (const e of this.entries.values()) {
      if (!unchanged(e.signatures)) {
        this.onChange();
        return;
      }
    }
  }
}

function pollTick(s: DescriptorSources): void {
  s.poll();
}

function signature(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch {
    return '-';
  }
}

function unchanged(signatures: ReadonlyMap<string, string>): boolean {
  for (const [f, sig] of signatures) if (signature(f) !== sig) return false;
  return true;
}

function signaturesOf(files: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files) out.set(f, signature(f));
  return out;
}

function compileEntry(spec: Extract<DescriptorSourceSpec, { kind: 'protoFiles' }>): Entry {
  // Signatures first: an edit during the compile is then seen by the next poll.
  const before = signaturesOf(spec.protoFiles);
  const r = compileProtoFiles({ protoFiles: spec.protoFiles, importPaths: spec.importPaths });
  const signatures = signaturesOf(r.sources);
  for (const [f, s] of before) if (signatures.has(f)) signatures.set(f, s);
  // A missing entry file is watched too, so creating it is noticed.
  for (const f of spec.protoFiles) if (!signatures.has(f)) signatures.set(f, before.get(f)!);
  const result: ResolvedDescriptors = r.ok ? { ok: true, descriptorSet: r.descriptorSet, registry: r.registry } : { ok: false, error: r.error };
  return { result, signatures };
}

function readSetEntry(file: string): Entry {
  const signatures = signaturesOf([file]);
  let result: ResolvedDescriptors;
  try {
    const bytes = fs.readFileSync(file);
    const set = fromBinary(FileDescriptorSetSchema, bytes);
    if (set.file.length === 0) throw new Error('the FileDescriptorSet holds no files');
    result = { ok: true, descriptorSet: bytes, registry: createFileRegistry(set) };
  } catch (e) {
    result = { ok: false, error: { file, line: null, message: `not a valid FileDescriptorSet: ${(e as Error).message}` } };
  }
  return { result, signatures };
}
