/**
 * Micro benchmark of `Picker.pick()` per LB policy for 1, 10 and 100 endpoints, with equal and
 * with unequal weights: a plain `process.hrtime.bigint()` loop (warm-up, then timed iterations),
 * reporting the best of 3 rounds in ns/op. Endpoint sets and loads are seeded; picks draw from
 * the production `systemRandom`. Run:
 *   node --import tsx bench/micro/lb/pick.bench.ts [iterations]
 */
import { seededRandom, systemRandom } from '../../../src/core/clock';
import type { LbPolicy } from '../../../src/config/model';
import { Endpoint } from '../../../src/upstream/endpoint';
import { buildPicker } from '../../../src/upstream/lb/build-picker';
import type { PickContext, Picker } from '../../../src/upstream/lb/picker';

const ITERATIONS = Number(process.argv[2] ?? 2_000_000);
const POLICIES: readonly LbPolicy[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'];
const SIZES = [1, 10, 100];

function endpoints(n: number, weighted: boolean): Endpoint[] {
  const rnd = seededRandom(n);
  const out: Endpoint[] = [];
  for (let i = 0; i < n; i++) {
    const ep = new Endpoint({
      host: `10.0.${i >> 8}.${i & 255}`, port: 8080,
      weight: weighted ? 1 + (i % 7) : 1, priority: 0, healthStatus: 'HEALTHY',
    });
    ep.active = Math.floor(rnd.next() * 10);
    out.push(ep);
  }
  return out;
}

function run(picker: Picker, ctx: PickContext, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const r = picker.pick(ctx);
    if (r.type === 'complete') sink += r.endpoint.port;
  }
  return sink;
}

function measure(policy: LbPolicy, size: number, weighted: boolean): number {
  const picker = buildPicker(policy, endpoints(size, weighted), { clusterName: 'bench', random: seededRandom(1), choiceCount: 2 });
  // Picks use the production random source (Math.random); the mulberry32 seededRandom costs ~10–20 ns more per draw.
  const ctx: PickContext = { random: systemRandom, exclude: null, hash: null };
  run(picker, ctx, Math.min(ITERATIONS, 200_000)); // warm-up (JIT)
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    const sink = run(picker, ctx, ITERATIONS);
    const ns = Number(process.hrtime.bigint() - t0);
    if (sink === -1) console.log('unreachable');
    best = Math.min(best, ns / ITERATIONS);
  }
  return best;
}

const rows: string[] = [];
rows.push(`picker.pick() — ${ITERATIONS} iterations, node ${process.version}`);
rows.push('policy          endpoints  equal-weights ns/op  unequal-weights ns/op');
for (const policy of POLICIES) {
  for (const size of SIZES) {
    const eq = measure(policy, size, false);
    const uneq = size === 1 ? eq : measure(policy, size, true);
    rows.push(`${policy.padEnd(15)} ${String(size).padStart(9)}  ${eq.toFixed(1).padStart(19)}  ${uneq.toFixed(1).padStart(21)}`);
  }
}
console.log(rows.join('\n'));
