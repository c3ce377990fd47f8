/**
 * The control plane's stateful mesh-config loader: `loadMeshConfig` plus an incremental path for
 * the most common live edit, a change inside VirtualService documents (traffic shifting, timeouts,
 * retries). After every accepted load it remembers each file's text, document spans and validated
 * documents. The next load diffs each changed file against that text (common prefix and suffix),
 * so only the documents in the changed region are parsed and validated; when they are all
 * VirtualServices that keep their identity (kind, namespace, name), place and hosts, and are valid
 * against the remembered ServiceEntry/DestinationRule indexes, the new MeshConfig is the previous
 * one with those VirtualServices replaced, with no pass over the other documents. Anything else
 * (another kind, a moved, added or removed document, a new separator, an error, GrpcTranscoder or
 * GrpcValidation documents, whose descriptors are re-read on every load) takes the full path,
 * which gives the exact same result and reports every issue. Synchronous; one instance per
 * control plane.
 */
import { LineCounter } from 'yaml';
import type { DescriptorSources } from '../sources/descriptor-sources';
import { documentValue, isSplittable, MeshDocumentCache, parseYamlDocuments, split, type DocumentSpan } from './document-cache';
import { DocContext } from './document-context';
import {
  checkVirtualService, loadMeshConfigRecorded, readDocument, replaceVirtualServices,
  type DocRead, type FileLoadRecord, type MeshConfigResult,
} from './load-mesh-config';
import type { MeshConfig, MeshConfigIssue, VirtualService } from './model';

/** Compared in blocks of this many characters before the character-wise scan. */
const DIFF_BLOCK = 4096;

/** One accepted file: its text and, per document, the chunk span and validated read. */
interface FileState {
  readonly text: string;
  readonly record: FileLoadRecord;
}

/** The last accepted load. */
interface LoadState {
  readonly files: ReadonlyMap<string, FileState>;
  readonly config: MeshConfig;
}

/** An incremental edit of one file: its new state and the VirtualServices it replaces. */
interface FilePatch {
  readonly file: string;
  readonly state: FileState;
  readonly replaced: (readonly [VirtualService, VirtualService])[];
}

/** Counts of how loads were served (for tests and diagnostics). */
export interface MeshConfigLoaderStats {
  /** Loads through the full pipeline. */
  full: number;
  /** Loads served by patching the previous config. */
  incremental: number;
}

export class MeshConfigLoader {
  /** How loads were served so far. */
  readonly stats: MeshConfigLoaderStats = { full: 0, incremental: 0 };
  private state: LoadState | null = null;

  constructor(
    private readonly descriptors: DescriptorSources,
    private readonly cache: MeshDocumentCache = new MeshDocumentCache(),
  ) {}

  /**
   * Validates `files` like `loadMeshConfig(files, cache, descriptors)` and returns the same result
   * (a config deep-equal to a cold load's, or the same issues). Never throws.
   */
  load(files: ReadonlyMap<string, string>): MeshConfigResult {
    const fast = this.state === null ? null : this.incremental(this.state, files);
    if (fast !== null) {
      this.stats.incremental++;
      return { ok: true, config: fast };
    }
    this.stats.full++;
    const record = new Map<string, FileLoadRecord>();
    const result = loadMeshConfigRecorded(files, this.cache, this.descriptors, record);
    if (result.ok) {
      const states = new Map<string, FileState>();
      for (const [file, text] of files) states.set(file, { text, record: record.get(file)! });
      this.state = { files: states, config: result.config };
    }
    return result;
  }

  /** The patched config, or null when this change needs the full path. */
  private incremental(state: LoadState, files: ReadonlyMap<string, string>): MeshConfig | null {
    const config = state.config;
    if (config.grpcTranscoders !== undefined || config.grpcValidations !== undefined) return null;
    if (files.size !== state.files.size) return null;
    const patches: FilePatch[] = [];
    for (const [file, text] of files) {
      const prev = state.files.get(file);
      if (prev === undefined) return null;
      if (prev.text === text) continue;
      const patch = patchFile(file, prev, text, config);
      if (patch === null) return null;
      patches.push(patch);
    }
    if (patches.length === 0) return config;
    const replaced: (readonly [VirtualService, VirtualService])[] = [];
    for (let i = 0; i < patches.length; i++) replaced.push(...patches[i]!.replaced);
    const next = replaced.length === 0 ? config : replaceVirtualServices(config, replaced);
    const states = new Map(state.files);
    for (let i = 0; i < patches.length; i++) states.set(patches[i]!.file, patches[i]!.state);
    this.state = { files: states, config: next };
    return next;
  }
}

/**
 * The incremental edit of one file, or null when it is not one: the changed region (common prefix
 * and suffix removed) widened to whole documents must hold the same number of documents, each
 * either unchanged text or a valid VirtualService with the old one's identity and hosts.
 */
function patchFile(file: string, prev: FileState, text: string, config: MeshConfig): FilePatch | null {
  const spans = prev.record.spans;
  if (spans === null || spans.length === 0) return null;
  const old = prev.text;
  const p = commonPrefix(old, text);
  const s = commonSuffix(old, text, p);
  const oldEnd = old.length - s;
  // The documents the change touches: from the first whose end reaches the prefix to the last
  // that starts before the changed region ends. Separator lines must stay outside the region.
  const a = firstEndingAtOrAfter(spans, p);
  const b = lastStartingAtOrBefore(spans, oldEnd);
  if (a < 0 || b < a || spans[a]!.start > p || spans[b]!.end < oldEnd) return null;
  for (let i = a + 1; i <= b; i++) if (spans[i]!.start <= spans[i - 1]!.start) return null; // one document per chunk
  const delta = text.length - old.length;
  const regionStart = spans[a]!.start;
  const region = text.slice(regionStart, spans[b]!.end + delta);
  if (!isSplittable(region)) return null;
  const chunks = split(region);
  if (chunks.length !== b - a + 1) return null;
  const reads = prev.record.reads.slice();
  const newSpans: DocumentSpan[] = spans.slice(0, a);
  const replaced: (readonly [VirtualService, VirtualService])[] = [];
  for (let k = 0; k < chunks.length; k++) {
    const index = a + k;
    const chunk = chunks[k]!;
    newSpans.push({ start: regionStart + chunk.start, end: regionStart + chunk.end });
    const before = reads[index] ?? null;
    if (chunk.text === old.slice(spans[index]!.start, spans[index]!.end)) continue;
    if (before === null || before.meta.kind !== 'VirtualService') return null;
    const after = readVirtualServiceChunk(file, index, chunk.text, before, config);
    if (after === null) return null;
    reads[index] = after;
    replaced.push([before.value as VirtualService, after.value as VirtualService]);
  }
  for (let i = b + 1; i < spans.length; i++) newSpans.push({ start: spans[i]!.start + delta, end: spans[i]!.end + delta });
  return { file, state: { text, record: { spans: newSpans, reads } }, replaced };
}

/**
 * Parses and validates one changed chunk that held VirtualService `before`: null unless it is one
 * valid VirtualService with the same identity and hosts whose references resolve in `config`.
 */
function readVirtualServiceChunk(file: string, index: number, text: string, before: DocRead, config: MeshConfig): DocRead | null {
  const lineCounter = new LineCounter();
  const docs = parseYamlDocuments(text, lineCounter);
  if (docs.length !== 1 || docs[0]!.errors.length > 0) return null;
  const doc = docs[0]!;
  const value = documentValue(doc);
  if (value === null || value === undefined) return null;
  // Line numbers are chunk-relative here; they would only show in issues, and any issue sends the
  // load down the full path, which reports it with file positions.
  const issues: MeshConfigIssue[] = [];
  const ctx = new DocContext(issues, file, index, doc, lineCounter);
  const after = readDocument(ctx, value);
  if (after === null || issues.length > 0 || after.id !== before.id) return null;
  const vs = after.value as VirtualService;
  if (!sameStrings(vs.hosts, (before.value as VirtualService).hosts)) return null;
  checkVirtualService(ctx, vs, config.serviceByHost, config.destinationRuleByHost, new Map());
  return issues.length === 0 ? after : null;
}

/** Length of the common prefix of `a` and `b`. */
export function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i + DIFF_BLOCK <= n && a.slice(i, i + DIFF_BLOCK) === b.slice(i, i + DIFF_BLOCK)) i += DIFF_BLOCK;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** Length of the common suffix of `a` and `b` that does not overlap their first `prefix` characters. */
export function commonSuffix(a: string, b: string, prefix: number): number {
  const n = Math.min(a.length, b.length) - prefix;
  const ea = a.length;
  const eb = b.length;
  let i = 0;
  while (i + DIFF_BLOCK <= n && a.slice(ea - i - DIFF_BLOCK, ea - i) === b.slice(eb - i - DIFF_BLOCK, eb - i)) i += DIFF_BLOCK;
  while (i < n && a.charCodeAt(ea - i - 1) === b.charCodeAt(eb - i - 1)) i++;
  return i;
}

/** Index of the first span with `end >= pos`, or -1. Spans are in file order. */
function firstEndingAtOrAfter(spans: readonly DocumentSpan[], pos: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spans[mid]!.end >= pos) hi = mid;
    else lo = mid + 1;
  }
  return lo < spans.length ? lo : -1;
}

/** Index of the last span with `start <= pos`, or -1. */
function lastStartingAtOrBefore(spans: readonly DocumentSpan[], pos: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spans[mid]!.start <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
