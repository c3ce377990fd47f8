/**
 * Parsed YAML documents keyed by their exact text, reused across reloads: a change to one document
 * of a large mesh file re-parses only that document (YAML parsing is most of the cost of a reload;
 * see bench/README.md "xDS push latency"). Files are split at column-0 `---` lines, which the YAML
 * spec forbids inside scalars; files using directives (`%`), `...` end markers or content on a `---`
 * line are parsed whole, uncached. Line numbers are re-based so issues point into the whole file.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';

/**
 * The loader's memo for one cached document: what validating it produced the last time, and where
 * (`key`, e.g. file and index). The cache only stores it; the loader decides when it applies.
 */
export interface DocumentMemo {
  key: string;
  read: unknown;
}

/** One document as the loader consumes it. */
export interface ParsedDocument {
  /** Null for an empty document (counted for the index, then skipped). */
  readonly doc: Document.Parsed | null;
  /** Line/col lookup in file coordinates. */
  readonly lineCounter: LineCounter;
  /** Lives as long as the document's text stays in the cache. */
  readonly memo: DocumentMemo;
}

/** One `---`-separated piece of a file: its text and where it sits. */
export interface Chunk {
  readonly text: string;
  /** Offsets of `text` in the file (`end` exclusive; the separator lines belong to no chunk). */
  readonly start: number;
  readonly end: number;
  /** Lines before this chunk in the file. */
  readonly lineOffset: number;
  /** Whether a `---` marker opened it (such a chunk is a document even when empty). */
  readonly afterMarker: boolean;
}

interface CachedChunk {
  readonly docs: readonly Document.Parsed[];
  readonly memos: readonly DocumentMemo[];
  readonly lc: LineCounter;
  /** The file-coordinates view for `viewOffset` (reused while the chunk does not move). */
  view: LineCounter | null;
  viewOffset: number;
}

const SEPARATOR_REST = /^[ \t]*(?:#.*)?\r?$/;
const UNSPLITTABLE = /^(?:%|\.\.\.|---[ \t]*[^ \t#\r\n])/m;

/** Parses YAML documents as mesh config is read everywhere: duplicate keys are errors. */
export function parseYamlDocuments(text: string, lineCounter: LineCounter): Document.Parsed[] {
  return parseAllDocuments(text, { lineCounter, uniqueKeys: true }) as Document.Parsed[];
}

/** A parsed document's JavaScript value, with aliases bounded (a "billion laughs" document fails). */
export function documentValue(doc: Document.Parsed): unknown {
  return doc.toJS({ maxAliasCount: 100 });
}

/** Whether `text` can be split at `---` lines (no directives, `...` markers or content on a `---` line). */
export function isSplittable(text: string): boolean {
  return !UNSPLITTABLE.test(text);
}

/** Where the documents returned by `documents()` come from: one span per document, in order. */
export interface DocumentSpan {
  /** The chunk's offsets in the file text (`end` exclusive). */
  readonly start: number;
  readonly end: number;
}

export class MeshDocumentCache {
  private chunks = new Map<string, CachedChunk>();
  private used = new Map<string, CachedChunk>();

  /**
   * Every document of `text`, in order. Call `sweep()` after a whole load to drop unused entries.
   * With `spans`, also records each returned document's chunk offsets, one entry per document (left
   * empty for a file that is parsed whole).
   */
  documents(text: string, spans: DocumentSpan[] | null = null): ParsedDocument[] {
    if (UNSPLITTABLE.test(text)) {
      const lineCounter = new LineCounter();
      return parseYamlDocuments(text, lineCounter).map((doc) => ({ doc, lineCounter, memo: newMemo() }));
    }
    const out: ParsedDocument[] = [];
    for (const chunk of split(text)) {
      let cached = this.used.get(chunk.text) ?? this.chunks.get(chunk.text);
      if (cached === undefined) {
        const lc = new LineCounter();
        const docs = parseYamlDocuments(chunk.text, lc);
        cached = { docs, memos: docs.map(newMemo), lc, view: null, viewOffset: -1 };
      }
      this.used.set(chunk.text, cached);
      if (cached.viewOffset !== chunk.lineOffset) {
        cached.view = shifted(cached.lc, chunk.lineOffset);
        cached.viewOffset = chunk.lineOffset;
      }
      const lineCounter = cached.view!;
      if (cached.docs.length === 0) {
        if (chunk.afterMarker) {
          out.push({ doc: null, lineCounter, memo: newMemo() });
          if (spans !== null) spans.push({ start: chunk.start, end: chunk.end });
        }
        continue;
      }
      for (let i = 0; i < cached.docs.length; i++) {
        out.push({ doc: cached.docs[i]!, lineCounter, memo: cached.memos[i]! });
        if (spans !== null) spans.push({ start: chunk.start, end: chunk.end });
      }
    }
    return out;
  }

  /** Keeps only the documents seen since the previous sweep. */
  sweep(): void {
    this.chunks = this.used;
    this.used = new Map();
  }
}

function newMemo(): DocumentMemo {
  return { key: '', read: null };
}

/** Splits at column-0 `---` lines (optionally followed by blanks or a comment) in one pass. */
export function split(text: string): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0; // offset of the current chunk
  let startLine = 0;
  let line = 0; // line number of `pos`
  let afterMarker = false;
  let pos = 0; // start of the current line
  while (pos <= text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    if (text.charCodeAt(pos) === 0x2d && text.startsWith('---', pos) && SEPARATOR_REST.test(text.slice(pos + 3, eol))) {
      const end = pos === 0 ? 0 : pos - 1;
      chunks.push({ text: text.slice(start, end), start, end, lineOffset: startLine, afterMarker });
      start = eol + 1;
      startLine = line + 1;
      afterMarker = true;
    }
    pos = eol + 1;
    line++;
  }
  const last = Math.min(start, text.length);
  chunks.push({ text: text.slice(last), start: last, end: text.length, lineOffset: startLine, afterMarker });
  return chunks;
}

/** A LineCounter view whose lines are moved down by `offset` (shared chunks, per-file positions). */
function shifted(lc: LineCounter, offset: number): LineCounter {
  if (offset === 0) return lc;
  const view = Object.create(lc) as LineCounter;
  view.linePos = (pos: number) => {
    const p = lc.linePos(pos);
    return { line: p.line + offset, col: p.col };
  };
  return view;
}
