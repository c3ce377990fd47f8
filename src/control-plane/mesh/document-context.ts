/**
 * Per-document validation context: records `MeshConfigIssue`s with the document's file, index,
 * kind and name, resolves a field path to a 1-based line:column through the YAML AST, and offers
 * the small typed readers (objects with a closed field set, strings, integers, ports, labels) every
 * kind validator uses. Readers never throw; a bad value is recorded and `undefined`/null returned.
 */
import { isMap, isSeq, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import type { MeshConfigIssue } from './model';

export type PathSeg = string | number;
export type Path = readonly PathSeg[];

/** `['spec','http',0,'route']` → `spec.http[0].route`. */
export function pathToString(path: Path): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const s = path[i]!;
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Whether `o[k]` is set (YAML `null` counts as absent). */
export function present(o: Record<string, unknown>, k: string): boolean {
  return o[k] !== undefined && o[k] !== null;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

const NOT_SUPPORTED_YET = 'is not supported yet';

export class DocContext {
  kind: string | null = null;
  name: string | null = null;
  /** Issues recorded through this context so far. */
  errorCount = 0;

  constructor(
    private readonly issues: MeshConfigIssue[],
    readonly file: string,
    readonly index: number,
    private readonly doc: Document.Parsed | null,
    private readonly lineCounter: LineCounter | null,
  ) {}

  /** Records one issue at `path` (line/col looked up from the nearest existing YAML node). */
  err(path: Path, message: string): void {
    const pos = this.position(path);
    this.errorCount++;
    this.issues.push({
      file: this.file, index: this.index, kind: this.kind, name: this.name,
      path: pathToString(path), message, line: pos?.line ?? null, col: pos?.col ?? null,
    });
  }

  private position(path: Path): { line: number; col: number } | null {
    if (this.doc === null || this.lineCounter === null) return null;
    let node: unknown = this.doc.contents;
    let best: YamlNode | null = (node as YamlNode | null) ?? null;
    for (let i = 0; i < path.length && node !== null && node !== undefined; i++) {
      const seg = path[i]!;
      if (isMap(node)) {
        const pair = node.items.find((p) => (isPlainScalarKey(p.key) === String(seg)));
        if (pair === undefined) break;
        // For the last segment prefer the key's position (unknown-field errors point at the key).
        node = i === path.length - 1 ? pair.key : pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else break;
      if (node !== null && node !== undefined && (node as YamlNode).range !== undefined) best = node as YamlNode;
    }
    if (best === null || best.range === undefined || best.range === null) return null;
    const lp = this.lineCounter.linePos(best.range[0]);
    return { line: lp.line, col: lp.col };
  }

  /**
   * Checks that `v` is a mapping whose keys are all in `known`; keys in `notYet` (Istio fields
   * Remora will support later) are reported as "not supported yet", any other key as unknown.
   * Returns the mapping, or null (with an issue) when `v` is not one.
   */
  object(v: unknown, path: Path, known: readonly string[], notYet: readonly string[] = []): Record<string, unknown> | null {
    if (!isPlainObject(v)) {
      this.err(path, `expected a mapping, got ${describe(v)}`);
      return null;
    }
    for (const k of Object.keys(v)) {
      if (known.includes(k)) continue;
      if (notYet.includes(k)) this.err([...path, k], `${k} ${NOT_SUPPORTED_YET}`);
      else this.err([...path, k], `unknown field '${k}'`);
    }
    return v;
  }

  /** An optional string (undefined/null = absent). `required` records an issue when absent. */
  string(o: Record<string, unknown>, key: string, path: Path, required = false): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.err([...path, key], 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.err([...path, key], `expected a string, got ${describe(v)}`);
      return undefined;
    }
    if (required && v === '') {
      this.err([...path, key], 'must not be empty');
      return undefined;
    }
    return v;
  }

  /** An optional integer in [min, max]. */
  integer(o: Record<string, unknown>, key: string, path: Path, min: number, max: number, required = false): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.err([...path, key], 'is required');
      return undefined;
    }
    return this.integerValue(v, [...path, key], min, max);
  }

  integerValue(v: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.err(path, `expected an integer, got ${describe(v)}`);
      return undefined;
    }
    if (v < min || v > max) {
      this.err(path, `${v} is out of range (${min}..${max})`);
      return undefined;
    }
    return v;
  }

  boolean(o: Record<string, unknown>, key: string, path: Path): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.err([...path, key], `expected a boolean, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** A list of strings (absent = []). `nonEmpty` requires at least one entry. */
  stringList(o: Record<string, unknown>, key: string, path: Path, nonEmpty = false): string[] {
    const v = o[key];
    const p = [...path, key];
    if (v === undefined || v === null) {
      if (nonEmpty) this.err(p, 'is required');
      return [];
    }
    if (!Array.isArray(v)) {
      this.err(p, `expected a list of strings, got ${describe(v)}`);
      return [];
    }
    if (nonEmpty && v.length === 0) this.err(p, 'must not be empty');
    const out: string[] = [];
    for (let i = 0; i < v.length; i++) {
      if (typeof v[i] !== 'string' || v[i] === '') this.err([...p, i], `expected a non-empty string, got ${describe(v[i])}`);
      else out.push(v[i] as string);
    }
    return out;
  }

  /** A list of anything (absent = []); each element is then validated by the caller. */
  list(o: Record<string, unknown>, key: string, path: Path): unknown[] {
    const v = o[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.err([...path, key], `expected a list, got ${describe(v)}`);
      return [];
    }
    return v;
  }

  /** A string → string map (Kubernetes labels). Absent = {}. */
  labels(o: Record<string, unknown>, key: string, path: Path): Record<string, string> {
    const v = o[key];
    const p = [...path, key];
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) {
      this.err(p, `expected a mapping of strings, got ${describe(v)}`);
      return {};
    }
    const out: Record<string, string> = {};
    for (const k of Object.keys(v).sort()) {
      const val = v[k];
      if (typeof val !== 'string') this.err([...p, k], `label values must be strings (quote them), got ${describe(val)}`);
      else out[k] = val;
    }
    return out;
  }

  /** A port-name → port-number map (WorkloadEntry/endpoint `ports`). Absent = {}. */
  portMap(o: Record<string, unknown>, key: string, path: Path): Record<string, number> {
    const v = o[key];
    const p = [...path, key];
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) {
      this.err(p, `expected a mapping of port name to number, got ${describe(v)}`);
      return {};
    }
    const out: Record<string, number> = {};
    for (const k of Object.keys(v).sort()) {
      const n = this.integerValue(v[k], [...p, k], 1, 65535);
      if (n !== undefined) out[k] = n;
    }
    return out;
  }
}

function isPlainScalarKey(k: unknown): string | null {
  if (k === null || k === undefined) return null;
  const v = (k as { value?: unknown }).value;
  return v === undefined ? null : String(v);
}
