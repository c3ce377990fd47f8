/**
 * Loads a sidecar bootstrap file: reads it, parses YAML or JSON (by extension, else by content),
 * maps it through the proto3 JSON rules as `envoy.config.bootstrap.v3.Bootstrap` and compiles it to a
 * deep-frozen `BootstrapModel`. Syntax errors are reported as `<file>:line:col`; everything else with
 * the field path from the document root. TLS and body files named in the config are read with
 * `fs.readFileSync` relative to the process working directory, as Envoy does.
 */
import * as fs from 'node:fs';
import type * as protobuf from 'protobufjs';
import * as YAML from 'yaml';
import type { ValidationResult } from '../../core/errors';
import type { BootstrapModel } from '../model';
import { compileBootstrap } from './bootstrap';
import type { HttpFilterCompiler } from './http-filter-compiler';
import { parseProtoJson } from './proto-json';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** Parses bootstrap text (YAML is a superset of JSON, so one parser serves both); `source` names it in errors. */
export function parseBootstrapText(text: string, source: string): ValidationResult<unknown> {
  const isJson = source.endsWith('.json') || /^\s*[{[]/.test(text);
  if (isJson) {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      const m = /position (\d+)/.exec((e as Error).message);
      let where = source;
      if (m !== null) {
        const before = text.slice(0, Number(m[1]));
        const line = before.split('\n').length;
        where = `${source}:${line}:${Number(m[1]) - before.lastIndexOf('\n')}`;
      }
      return { ok: false, errors: [{ path: where, message: (e as Error).message }] };
    }
  }
  const docs = YAML.parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const errors = [];
  for (const d of list) {
    for (const err of d.errors) {
      const pos = err.linePos?.[0];
      errors.push({ path: pos === undefined ? source : `${source}:${pos.line}:${pos.col}`, message: err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:$/, '') });
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  if (list.length !== 1) return { ok: false, errors: [{ path: source, message: 'expected exactly one YAML document' }] };
  return { ok: true, value: list[0]!.toJS({ maxAliasCount: 1000 }) ?? {} };
}

/**
 * Loads and compiles the bootstrap at `file` with the Envoy protos in `root` and the HTTP filter
 * compiler `filters`. Never throws for bad input; an unreadable bootstrap file is an error at `<file>`.
 */
export function loadBootstrap(file: string, root: protobuf.Root, filters: HttpFilterCompiler): ValidationResult<BootstrapModel> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, errors: [{ path: file, message: `cannot read bootstrap: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }] };
  }
  const parsed = parseBootstrapText(text, file);
  if (!parsed.ok) return parsed;
  const proto = parseProtoJson(root, BOOTSTRAP_TYPE, parsed.value, '');
  if (!proto.ok) return proto;
  return compileBootstrap(proto.value, { filters, readFile: (p) => fs.readFileSync(p) });
}
