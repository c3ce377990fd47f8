/**
 * Shared helpers for mesh-config tests: load documents as one file, assert acceptance (failing
 * with every formatted issue) or rejection, and find exactly one issue at a field path.
 */
import assert from 'node:assert/strict';
import { formatMeshIssue, loadMeshConfig, type MeshConfig, type MeshConfigIssue } from '../../src/control-plane/mesh';
import type { MeshConfigResult } from '../../src/control-plane/mesh/load-mesh-config';

/** Loads `docs` as one multi-document file `mesh.yaml`. */
export function loadDocs(...docs: string[]): MeshConfigResult {
  return loadMeshConfig(new Map([['mesh.yaml', docs.join('---\n')]]));
}

/** The accepted config of `docs`; fails the test with every issue otherwise. */
export function acceptedMesh(...docs: string[]): MeshConfig {
  const r = loadDocs(...docs);
  if (!r.ok) assert.fail(r.errors.map(formatMeshIssue).join('\n'));
  return r.config;
}

/** The issues of `docs`, which must be rejected. */
export function rejectedMesh(...docs: string[]): readonly MeshConfigIssue[] {
  const r = loadDocs(...docs);
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors;
}

/** Asserts exactly one issue at `path` whose message matches, and returns it. */
export function expectMeshIssue(issues: readonly MeshConfigIssue[], path: string, message: RegExp): MeshConfigIssue {
  const found = issues.filter((i) => i.path === path && message.test(i.message));
  assert.equal(found.length, 1, `expected one issue at ${path} matching ${message}; got:\n${issues.map(formatMeshIssue).join('\n')}`);
  return found[0]!;
}
