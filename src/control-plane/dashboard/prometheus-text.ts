/**
 * A small parser for the Prometheus text exposition format (0.0.4) and the parts of OpenMetrics
 * 1.0 a scrape of a Remora sidecar can contain (`# EOF`, `_created` series, exemplars after `#`),
 * as the dashboard's scraper needs it: samples with their metric name, labels and value; `# HELP`
 * and `# TYPE` lines are skipped. Format: https://prometheus.io/docs/instrumenting/exposition_formats/
 * It never throws: a malformed line is skipped and counted, so one bad series does not hide a
 * sidecar's other metrics.
 */

/** One sample line. `labels` is a plain object (no prototype) of unescaped label values. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromParseResult {
  readonly samples: PromSample[];
  /** Lines that could not be parsed (skipped). */
  readonly malformed: number;
}

/**
 * Parses an exposition body. `keep(name)` (optional) filters by metric name before labels are
 * parsed, so unwanted families cost one name scan per line.
 */
export function parsePrometheusText(text: string, keep: ((name: string) => boolean) | null = null): PromParseResult {
  const samples: PromSample[] = [];
  let malformed = 0;
  let start = 0;
  const len = text.length;
  while (start < len) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = len;
    let line = text.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const r = parseLine(line, keep);
    if (r === SKIPPED) continue;
    if (r === null) malformed++;
    else samples.push(r);
  }
  return { samples, malformed };
}

const SKIPPED: PromSample = { name: '', labels: {}, value: 0 };

function isNameChar(c: number, first: boolean): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58 || (!first && c >= 48 && c <= 57);
}

/** One sample line; SKIPPED when filtered out, null when malformed. */
function parseLine(line: string, keep: ((name: string) => boolean) | null): PromSample | null {
  let i = 0;
  const n = line.length;
  while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  const nameStart = i;
  while (i < n && isNameChar(line.charCodeAt(i), i === nameStart)) i++;
  if (i === nameStart) return null;
  const name = line.slice(nameStart, i);
  if (keep !== null && !keep(name)) return SKIPPED;
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  while (i < n && line.charCodeAt(i) === 32) i++;
  if (i < n && line.charCodeAt(i) === 123 /* { */) {
    i++;
    for (;;) {
      while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 44 /* , */)) i++;
      if (i >= n) return null;
      if (line.charCodeAt(i) === 125 /* } */) { i++; break; }
      const ls = i;
      while (i < n && isNameChar(line.charCodeAt(i), i === ls)) i++;
      if (i === ls) return null;
      const lname = line.slice(ls, i);
      while (i < n && line.charCodeAt(i) === 32) i++;
      if (line.charCodeAt(i) !== 61 /* = */) return null;
      i++;
      while (i < n && line.charCodeAt(i) === 32) i++;
      if (line.charCodeAt(i) !== 34 /* " */) return null;
      i++;
      let value = '';
      let segment = i;
      for (;;) {
        if (i >= n) return null;
        const c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 /* \ */) {
          value += line.slice(segment, i);
          const e = line.charCodeAt(i + 1);
          value += e === 110 ? '\n' : e === 34 ? '"' : e === 92 ? '\\' : '\\' + line.charAt(i + 1);
          i += 2;
          segment = i;
          continue;
        }
        i++;
      }
      value += line.slice(segment, i);
      i++; // closing quote
      labels[lname] = value;
    }
  }
  while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  const vs = i;
  while (i < n && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++;
  if (i === vs) return null;
  const value = parseValue(line.slice(vs, i));
  if (value === null) return null;
  // A timestamp and/or an OpenMetrics exemplar may follow; the dashboard uses scrape time instead.
  return { name, labels, value };
}

/** A sample value: a float, or `NaN`, `+Inf`, `-Inf` (any case). Null when not a number. */
export function parseValue(s: string): number | null {
  switch (s.toLowerCase()) {
    case '+inf': case 'inf': return Infinity;
    case '-inf': return -Infinity;
    case 'nan': return NaN;
  }
  const v = Number(s);
  if (Number.isNaN(v) || s.trim() === '') return null;
  return v;
}
