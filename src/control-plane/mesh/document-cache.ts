/**
 * Parsed YAML documents keyed by their exact text, reused across reloads: a change to one document
 * of a large mesh file re-parses only that document (YAML parsing is most of the cost of a reload;
 * see bench/README.md "xDS push latency"). Files are split at column-0 `---` lines, which the YAML
 * spec forbids inside scalars; files using directives (`%`), `...` end markers or content on a `---`
 * line are parsed whole, uncached. Line numbers are re-based so issues point into the whole file.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';

/** One document as the loader consumes it. */
export interface ParsedDocument {
  /** Null for an empty document (counted for the index, then skipped). */
  readonly doc: Document.Parsed | null;
  /** Line/col lookup in file coordinates. */
  readonly lineCounter: LineCounter;
}

interface Chunk {
  readonly text: string;
  /** Lines before this chunk in the file. */
  readonly lineOffset: number;
  /** Whether a `---` marker opened it (such a chunk is a document even when empty). */
  readonly afterMarker: boolean;
}

interface CachedChunk {
  readonly docs: readonly Document.Parsed[];
  readonly lc: LineCounter;
}

const SEPARATOR = /^---[ \t]*(?:#.*)?$/;
const UNSPLITTABLE = /^(?:%|\.\.\.|---[ \t]*[^ \t#\r\n])/m;

export class MeshDocumentCache {
  private chunks = new Map<string, CachedChunk>();
  private used = new Map<string, CachedChunk>();

  /** Every document of `text`, in order. Call `sweep()` after a whole load to drop unused entries. */
  documents(text: string): ParsedDocument[] {
    if (UNSPLITTABLE.test(text)) {
      const lineCounter = new LineCounter();
      return parseAllDocuments(text, { lineCounter, uniqueKeys: true }).map((doc) => ({ doc: doc as Document.Parsed, lineCounter }));
    }
    const out: ParsedDocument[] = [];
    for (const chunk of split(text)) {
      let cached = this.used.get(chunk.text) ?? this.chunks.get(chunk.text);
      if (cached === undefined) {
        const lc = new LineCounter();
        cached = { docs: parseAllDocuments(chunk.text, { lineCounter: lc, uniqueKeys: true }) as Document.Parsed[], lc };
      }
      this.used.set(chunk.text, cached);
      const lineCounter = shifted(cached.lc, chunk.lineOffset);
      if (cached.docs.length === 0) {
        if (chunk.afterMarker) out.push({ doc: null, lineCounter });
        continue;
      }
      for (const doc of cached.docs) out.push({ doc, lineCounter });
    }
    return out;
  }

  /** Keeps only the documents seen since the previous sweep. */
  sweep(): void {
    this.chunks = this.used;
    this.used = new Map();
  }
}

function split(text: string): Chunk[] {
  const lines = text.split('\n');
  const chunks: Chunk[] = [];
  let start = 0;
  let afterMarker = false;
  for (let i = 0; i < lines.length; i++) {
    if (!SEPARATOR.test(lines[i]!.replace(/\r$/, ''))) continue;
    chunks.push({ text: lines.slice(start, i).join('\n'), lineOffset: start, afterMarker });
    start = i + 1;
    afterMarker = true;
  }
  chunks.push({ text: lines.slice(start).join('\n'), lineOffset: start, afterMarker });
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
