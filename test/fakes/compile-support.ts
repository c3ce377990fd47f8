/**
 * Shared support for config-compile tests: compile dependencies with no HTTP filters and no files
 * (resource tests that do not need them), a parse-then-compile helper going through the real
 * entry points (proto JSON → ProtoObject → compile, as xDS does), and the field-path assertion.
 */
import assert from 'node:assert/strict';
import type * as protobuf from 'protobufjs';
import type { ConfigIssue, ValidationResult } from '../../src/core/errors';
import type { CompileDeps, HttpFilterCompiler } from '../../src/config/compile/http-filter-compiler';
import { parseProtoJson, type ProtoObject } from '../../src/config/compile/proto-json';

const noFilters: HttpFilterCompiler = {
  compile: (_n, _tc, p) => ({ ok: false, errors: [{ path: p, message: 'no filters in this test' }] }),
  compilePerRoute: (_n, _tc, p) => ({ ok: false, errors: [{ path: p, message: 'no filters in this test' }] }),
};

/** CompileDeps for tests whose resources reference no HTTP filter and no file. */
export const noFilterDeps: CompileDeps = { filters: noFilters, readFile: () => { throw new Error('no files'); } };

/** Parses `doc` as the proto message `typeName`, then runs `compile` on it. */
export function parseAndCompile<T>(
  root: protobuf.Root, typeName: string, doc: unknown, compile: (obj: ProtoObject, deps: CompileDeps) => ValidationResult<T>,
): ValidationResult<T> {
  const parsed = parseProtoJson(root, typeName, doc, '');
  if (!parsed.ok) return parsed;
  return compile(parsed.value, noFilterDeps);
}

/** Asserts that `r` failed with an issue at exactly `path` (and a message matching `message`). */
export function expectConfigError<T>(r: ValidationResult<T>, path: string, message?: RegExp): void {
  assert.equal(r.ok, false, 'expected errors');
  const errs = (r as { errors: readonly ConfigIssue[] }).errors;
  const hit = errs.find((e) => e.path === path);
  assert.ok(hit, `no error at ${path}; got ${JSON.stringify(errs)}`);
  if (message !== undefined) assert.match(hit.message, message);
}
