/**
 * Micro benchmark of `Picker.pick()` per LB policy for 1, 10 and 100 endpoints, with equal and
 * with unequal weights: a plain `process.hrtime.bigint()` loop (warm-up, then timed iterations),
 * reporting the best of 3 rounds in ns/op. Endpoint sets and loads are seeded; picks draw from
 * the production `systemRandom`. RING_HASH runs twice: without a request hash (a random point) and
 * with per-request hashes cycling through 4096 precomputed values; a last table times the route
 * `hash_policy` computation (`CompiledHashPolicy.hash`) per policy kind. Run:
 *   node --import tsx bench/micro/lb/pick.bench.ts [iterations]
 */
import { seededRandom, systemRandom } from '../../../src/core/clock';
import type { LbPolicy } from '../../../src/config/model';
import { Endpoint } from '../../../src/upstream/endpoint';
import { buildPicker } from '../../../src/upstream/lb/build-picker';
import type { PickContext, Picker } from '../../../src/upstream/lb/picker';
import { CompiledHashPolicy } from '../../../src/routing/hash-policy';
import type { HashPolicyModel } from '../../../src/config/model';

const ITERATIONS = Number(process.argv[2] ?? 2_000_000);
const POLICIES: readonly LbPolicy[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'];
const SIZES = [1, 10, 100];

function endpoints(n: number, weighted: boolean): Endpoint[] {
  const rnd = seededRandom(n);
  const out: Endpoint[] = [];
  for (let i = 0; i < n; i++) {
    const ep = new Endpoint({
      host: `10.0.${i >> 8}.${i & 255}`, port: 8080,
      weight: weighted ? 1 + (i % 7) : 1, priority: 0, healthStatus: 'HEALTHY', metadata: null,
    });
    ep.active = Math.floor(rnd.next() * 10);
    out.push(ep);
  }
  return out;
}

/** A PickContext whose `hash` the loop rewrites per pick (same shape as the router's). */
interface MutablePickContext { random: PickContext['random']; exclude: PickContext['exclude']; hash: number | null }

const HASHES = new Uint32Array(4096);
{
  const rnd = seededRandom(99);
  for (let i = 0; i < HASHES.length; i++) HASHES[i] = Math.floor(rnd.next() * 4294967296);
}

function run(picker: Picker, ctx: MutablePickContext, n: number, hashed: boolean): number {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    if (hashed) ctx.hash = HASHES[i & 4095];
    const r = picker.pick(ctx);
    if (r.type === 'complete') sink += r.endpoint.port;
  }
  return sink;
}

function measure(policy: LbPolicy, size: number, weighted: boolean, hashed = false): number {
  const picker = buildPicker(policy, endpoints(size, weighted), { clusterName: 'bench', random: seededRandom(1), choiceCount: 2 });
  // Picks use the production random source (Math.random); the mulberry32 seededRandom costs ~10–20 ns more per draw.
  const ctx: MutablePickContext = { random: systemRandom, exclude: null, hash: null };
  run(picker, ctx, Math.min(ITERATIONS, 200_000), hashed); // warm-up (JIT)
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    const sink = run(picker, ctx, ITERATIONS, hashed);
    const ns = Number(process.hrtime.bigint() - t0);
    if (sink === -1) console.log('unreachable');
    best = Math.min(best, ns / ITERATIONS);
  }
  return best;
}

function measureHashPolicy(models: HashPolicyModel[]): number {
  const policy = CompiledHashPolicy.compile(models)!;
  const headers = {
    ':method': 'POST', ':path': '/pkg.Svc/Method?user=alice&x=1', ':authority': 'svc.local', 'content-type': 'application/grpc',
    'x-user-id': 'user-12345', cookie: 'theme=dark; session=8f14e45fceea167a5a36dedd4bea2543; lang=en',
  };
  const iterations = Math.max(1, ITERATIONS >> 1);
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink ^= policy.hash(headers, '10.1.2.3', headers[':path']) ?? 0;
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink ^= policy.hash(headers, '10.1.2.3', headers[':path']) ?? 0;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / iterations);
  }
  if (sink === -1) console.log('unreachable');
  return best;
}

const rows: string[] = [];
rows.push(`picker.pick() — ${ITERATIONS} iterations, node ${process.version}`);
rows.push('policy          endpoints  equal-weights ns/op  unequal-weights ns/op');
function row(label: string, size: number, eq: number, uneq: number): void {
  rows.push(`${label.padEnd(15)} ${String(size).padStart(9)}  ${eq.toFixed(1).padStart(19)}  ${uneq.toFixed(1).padStart(21)}`);
}
for (const policy of POLICIES) {
  for (const size of SIZES) {
    const eq = measure(policy, size, false);
    row(policy, size, eq, size === 1 ? eq : measure(policy, size, true));
  }
}
for (const size of SIZES) {
  const eq = measure('RING_HASH', size, false, true);
  row('RING_HASH+hash', size, eq, size === 1 ? eq : measure('RING_HASH', size, true, true));
}
rows.push('');
rows.push('CompiledHashPolicy.hash()      ns/op');
const HASH_CASES: Array<[string, HashPolicyModel[]]> = [
  ['header', [{ kind: 'header', name: 'x-user-id', terminal: false }]],
  ['cookie', [{ kind: 'cookie', name: 'session', terminal: false }]],
  ['source_ip', [{ kind: 'source_ip', terminal: false }]],
  ['query_parameter', [{ kind: 'query_parameter', name: 'user', terminal: false }]],
  ['header(terminal)+source_ip', [{ kind: 'header', name: 'x-user-id', terminal: true }, { kind: 'source_ip', terminal: false }]],
  ['missing header+source_ip', [{ kind: 'header', name: 'x-absent', terminal: false }, { kind: 'source_ip', terminal: false }]],
];
for (const [label, models] of HASH_CASES) rows.push(`${label.padEnd(28)} ${measureHashPolicy(models).toFixed(1).padStart(7)}`);
console.log(rows.join('\n'));
