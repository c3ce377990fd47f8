/**
 * Golden tests: for every `test/fixtures/mesh/<name>.yaml`, the translated resources of each node in
 * `<name>.nodes.json` (or, for an invalid mesh, the validation issues) equal
 * `<name>.golden.json`. Regenerate after an intended change with
 *   UPDATE_GOLDEN=1 node --import tsx --test src/control-plane/translate/golden.test.ts
 * and review the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { NodeIdentity } from '../cache/resources';
import { loadMeshConfig } from '../mesh';
import { translateForNode } from './translate-for-node';

/** The repository root (the folder holding package.json), from source or from dist/. */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}


const FIXTURES = path.join(repoRoot(), 'test/fixtures/mesh');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

/** JSON with object keys sorted at every level; Buffers as `base64:<data>`. */
function stable(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `base64:${v.toString('base64')}`;
  if (Array.isArray(v)) return v.map(stable);
  if (v instanceof Map) return stable(Object.fromEntries(v));
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = stable((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

function render(name: string): unknown {
  const yamlFile = path.join(FIXTURES, `${name}.yaml`);
  // File names are repo-relative so goldens do not depend on the checkout location.
  const r = loadMeshConfig(new Map([[`test/fixtures/mesh/${name}.yaml`, readFileSync(yamlFile, 'utf8')]]));
  if (!r.ok) return { errors: r.errors };
  const nodesFile = path.join(FIXTURES, `${name}.nodes.json`);
  const nodes: NodeIdentity[] = existsSync(nodesFile) ? JSON.parse(readFileSync(nodesFile, 'utf8')) : [];
  const out: Record<string, unknown> = {};
  for (const node of nodes) {
    const set = translateForNode(r.config, node);
    const byType: Record<string, unknown> = {};
    for (const [url, resources] of set.byType) byType[url.slice(url.lastIndexOf('.') + 1)] = Object.fromEntries(resources);
    out[node.id] = byType;
  }
  return out;
}

const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();

test('there are golden fixtures', () => {
  assert.ok(names.length >= 3, `fixtures in ${FIXTURES}: ${names.join(', ')}`);
});

for (const name of names) {
  test(`golden: ${name}`, () => {
    const actual = `${JSON.stringify(stable(render(name)), null, 2)}\n`;
    const goldenFile = path.join(FIXTURES, `${name}.golden.json`);
    if (UPDATE || !existsSync(goldenFile)) {
      if (!UPDATE) assert.fail(`${goldenFile} is missing; run with UPDATE_GOLDEN=1 to create it`);
      writeFileSync(goldenFile, actual);
      return;
    }
    assert.equal(actual, readFileSync(goldenFile, 'utf8'), `${name}: translation differs from ${goldenFile} (UPDATE_GOLDEN=1 regenerates)`);
  });
}
