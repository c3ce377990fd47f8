/**
 * MeshConfigLoader: the incremental path (VirtualService edits patched into the previous config) must
 * give exactly what a cold `loadMeshConfig` gives for the same files, and every other change must
 * fall back to the full path. Differential: each step compares the loader with a cold load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DescriptorSources } from '../sources/descriptor-sources';
import { loadMeshConfig, type MeshConfigResult } from './load-mesh-config';
import { commonPrefix, commonSuffix, MeshConfigLoader } from './mesh-config-loader';

const se = (i: number, port = 50051): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${i}, namespace: demo}
spec:
  hosts: [svc-${i}.demo.svc]
  ports: [{number: ${port}, name: grpc, protocol: GRPC}]
  resolution: STATIC
  workloadSelector: {labels: {app: svc-${i}}}
`;
const we = (i: number, v: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: svc-${i}-${v}, namespace: demo, labels: {app: svc-${i}, version: ${v}}}
spec: {address: 10.0.${i}.${v === 'v1' ? 1 : 2}, labels: {app: svc-${i}, version: ${v}}}
`;
const dr = (i: number, subsets = ['v1', 'v2']): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}, namespace: demo}
spec:
  host: svc-${i}.demo.svc
  subsets: [${subsets.map((s) => `{name: ${s}, labels: {version: ${s}}}`).join(', ')}]
`;
interface VsOpts { weight?: number; host?: string; dest?: string; subset?: string; timeout?: string; name?: string }
const vs = (i: number, o: VsOpts = {}): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${o.name ?? `svc-${i}`}, namespace: demo}
spec:
  hosts: [${o.host ?? `svc-${i}.demo.svc`}]
  http:
  - route:
    - {destination: {host: ${o.dest ?? `svc-${i}.demo.svc`}, subset: ${o.subset ?? 'v1'}}, weight: ${o.weight ?? 90}}
    - {destination: {host: svc-${i}.demo.svc, subset: v2}, weight: ${100 - (o.weight ?? 90)}}${o.timeout === undefined ? '' : `\n    timeout: ${o.timeout}`}
`;

function meshDocs(n: number): string[] {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) docs.push(se(i), we(i, 'v1'), we(i, 'v2'), dr(i), vs(i));
  return docs;
}

const files = (docs: readonly string[], name = 'mesh.yaml'): Map<string, string> => new Map([[name, docs.join('---\n')]]);

function cold(f: ReadonlyMap<string, string>): MeshConfigResult {
  return loadMeshConfig(f);
}

function assertSame(got: MeshConfigResult, want: MeshConfigResult): void {
  assert.equal(got.ok, want.ok, got.ok ? 'loader accepted what a cold load rejects' : JSON.stringify(got.errors));
  if (got.ok && want.ok) assert.deepStrictEqual(got.config, want.config);
  else if (!got.ok && !want.ok) assert.deepStrictEqual(got.errors, want.errors);
}

function step(loader: MeshConfigLoader, f: ReadonlyMap<string, string>): MeshConfigResult {
  const got = loader.load(f);
  assertSame(got, cold(f));
  return got;
}

test('a VirtualService edit in the middle is patched in: same config as a cold load, other values shared', () => {
  const loader = new MeshConfigLoader(new DescriptorSources());
  const docs = meshDocs(20);
  const first = step(loader, files(docs));
  assert.ok(first.ok);
  docs[10 * 5 + 4] = vs(10, { weight: 30, timeout: '2s' });
  const second = step(loader, files(docs));
  assert.ok(second.ok);
  assert.deepEqual(loader.stats, { full: 1, incremental: 1 });
  assert.equal(second.config.virtualServiceByHost.get('svc-10.demo.svc')!.http[0]!.route[0]!.weight, 30);
  assert.equal(second.config.virtualServices[10]!.meta.index, 54);
  assert.equal(second.config.serviceEntries, first.config.serviceEntries);
  assert.equal(second.config.virtualServices[9], first.config.virtualServices[9]);
  assert.ok(Object.isFrozen(second.config.virtualServices[10]));
  // A second edit of another document patches the patched state.
  docs[0 * 5 + 4] = vs(0, { weight: 11 });
  docs[19 * 5 + 4] = vs(19, { weight: 12 });
  step(loader, files(docs));
  assert.equal(loader.stats.incremental, 2);
  // No change at all: the same config object.
  const again = step(loader, files(docs));
  assert.equal(loader.stats.incremental, 3);
  assert.ok(again.ok);
});

test('a VirtualService edit that changes a reference is checked against the other documents', () => {
  const loader = new MeshConfigLoader(new DescriptorSources());
  const docs = meshDocs(5);
  step(loader, files(docs));
  docs[2 * 5 + 4] = vs(2, { dest: 'svc-3.demo.svc' }); // another declared host: fine
  step(loader, files(docs));
  assert.equal(loader.stats.incremental, 1);
  docs[2 * 5 + 4] = vs(2, { dest: 'nowhere.demo.svc' }); // dangling: rejected like a cold load
  const bad = step(loader, files(docs));
  assert.equal(bad.ok, false);
  docs[2 * 5 + 4] = vs(2, { subset: 'v3' }); // undefined subset
  assert.equal(step(loader, files(docs)).ok, false);
  docs[2 * 5 + 4] = vs(2, { weight: 40 }); // fixed again; diffed against the last accepted text
  assert.ok(step(loader, files(docs)).ok);
  docs[2 * 5 + 4] = vs(2, { host: 'svc-3.demo.svc' }); // rebinding a host: full path, duplicate binding reported
  assert.equal(step(loader, files(docs)).ok, false);
});

test('deletions, insertions, reorders, renames and other kinds take the full path with the same result', () => {
  const loader = new MeshConfigLoader(new DescriptorSources());
  let docs = meshDocs(6);
  step(loader, files(docs));
  const fullBefore = loader.stats.full;
  docs = docs.filter((_, i) => i !== 3 * 5 + 4); // delete a VirtualService
  step(loader, files(docs));
  docs.splice(3 * 5 + 4, 0, vs(3, { weight: 20 })); // insert it back
  step(loader, files(docs));
  [docs[1 * 5 + 4], docs[2 * 5 + 4]] = [docs[2 * 5 + 4]!, docs[1 * 5 + 4]!]; // reorder
  step(loader, files(docs));
  docs[4 * 5 + 4] = vs(4, { name: 'renamed' }); // another identity
  step(loader, files(docs));
  docs[4 * 5 + 3] = dr(4, ['v1']); // a DestinationRule drops the subset a VirtualService uses
  assert.equal(step(loader, files(docs)).ok, false);
  docs[4 * 5 + 3] = dr(4);
  docs[5 * 5] = se(5, 50052); // a ServiceEntry change
  step(loader, files(docs));
  assert.equal(loader.stats.full - fullBefore, 6);
  assert.equal(loader.stats.incremental, 0);
  // A separator turned into content / a document split in two.
  const text = files(docs).get('mesh.yaml')!;
  step(loader, new Map([['mesh.yaml', text.replace('---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: svc-1,', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: svc-1,')]]));
  step(loader, files(docs));
  step(loader, new Map([['mesh.yaml', text.replace('  hosts: [svc-1.demo.svc]\n  http:', '  hosts: [svc-1.demo.svc]\n---\n  http:')]]));
  // Malformed YAML inside a VirtualService.
  step(loader, new Map([['mesh.yaml', text.replace('weight: 90}', 'weight: [90}')]]));
  step(loader, files(docs));
});

test('several files: only changed files are diffed; a file set change is a full load', () => {
  const loader = new MeshConfigLoader(new DescriptorSources());
  const a = meshDocs(3);
  const b = [se(7), dr(7), vs(7)];
  const two = (): Map<string, string> => new Map([['a.yaml', a.join('---\n')], ['b.yaml', b.join('---\n')]]);
  step(loader, two());
  b[2] = vs(7, { weight: 50 });
  step(loader, two());
  a[4] = vs(0, { weight: 51 });
  b[2] = vs(7, { weight: 52 });
  step(loader, two());
  assert.equal(loader.stats.incremental, 2);
  step(loader, new Map([['a.yaml', a.join('---\n')]]));
  assert.equal(loader.stats.full, 2);
});

test('commonPrefix/commonSuffix agree with a character-wise scan', () => {
  fc.assert(fc.property(fc.string({ maxLength: 9000 }), fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.nat(), (base, x, y, at) => {
    const cut = base.length === 0 ? 0 : at % base.length;
    const a = base.slice(0, cut) + x + base.slice(cut);
    const b = base.slice(0, cut) + y + base.slice(cut);
    let p = 0;
    while (p < Math.min(a.length, b.length) && a[p] === b[p]) p++;
    let s = 0;
    while (s < Math.min(a.length, b.length) - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    assert.equal(commonPrefix(a, b), p);
    assert.equal(commonSuffix(a, b, p), s);
  }), { numRuns: 200 });
});

test('property: any sequence of edits gives what a cold load gives', () => {
  let incremental = 0;
  const edit = fc.oneof(
    fc.record({ op: fc.constant('weight' as const), i: fc.nat(7), w: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ op: fc.constant('timeout' as const), i: fc.nat(7), t: fc.constantFrom('1s', '250ms', 'bad') }),
    fc.record({ op: fc.constant('dest' as const), i: fc.nat(7), d: fc.nat(9) }),
    fc.record({ op: fc.constant('subset' as const), i: fc.nat(7), s: fc.constantFrom('v1', 'v2', 'v9') }),
    fc.record({ op: fc.constant('host' as const), i: fc.nat(7), d: fc.nat(9) }),
    fc.record({ op: fc.constant('delete' as const), k: fc.nat(100) }),
    fc.record({ op: fc.constant('swap' as const), k: fc.nat(100) }),
    fc.record({ op: fc.constant('dr' as const), i: fc.nat(7), one: fc.boolean() }),
    fc.record({ op: fc.constant('garbage' as const), k: fc.nat(100) }),
  );
  fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 12 }), (edits) => {
    const loader = new MeshConfigLoader(new DescriptorSources());
    const docs = meshDocs(8);
    step(loader, files(docs));
    const vsAt = (i: number): number => docs.findIndex((d) => d.includes('kind: VirtualService') && d.includes(`name: svc-${i},`));
    for (const e of edits) {
      switch (e.op) {
        case 'weight': case 'timeout': case 'dest': case 'subset': case 'host': {
          const at = vsAt(e.i);
          if (at < 0) break;
          const o: VsOpts = e.op === 'weight' ? { weight: e.w } : e.op === 'timeout' ? { timeout: e.t } : e.op === 'dest' ? { dest: `svc-${e.d}.demo.svc` }
            : e.op === 'subset' ? { subset: e.s } : { host: `svc-${e.d}.demo.svc` };
          docs[at] = vs(e.i, o);
          break;
        }
        case 'delete': docs.splice(e.k % docs.length, 1); break;
        case 'swap': {
          const k = e.k % docs.length;
          const j = (k + 1) % docs.length;
          [docs[k], docs[j]] = [docs[j]!, docs[k]!];
          break;
        }
        case 'dr': {
          const at = docs.findIndex((d) => d.includes('kind: DestinationRule') && d.includes(`name: svc-${e.i},`));
          if (at >= 0) docs[at] = dr(e.i, e.one ? ['v1'] : ['v1', 'v2']);
          break;
        }
        case 'garbage': docs[e.k % docs.length] = 'kind: [unclosed\n'; break;
      }
      step(loader, files(docs));
    }
    incremental += loader.stats.incremental;
  }), { numRuns: 25 });
  assert.ok(incremental > 0, 'the property never reached the incremental path');
});
