/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`) into the top functions by self time,
 * so `--cpu-prof` runs print where the sidecar spends its CPU without opening DevTools.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One line of the summary. */
export interface HotFunction {
  readonly name: string;
  readonly location: string;
  readonly selfMs: number;
  readonly selfPct: number;
}

/**
 * Top `n` functions by self time (sample time deltas attributed to the sampled node), aggregated by
 * name+location. `(idle)` is left out of both the ranking and the percentage base, so percentages are
 * of busy time.
 */
export function topSelfTime(profile: Profile, n: number): HotFunction[] {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const totals = new Map<string, { name: string; location: string; us: number }>();
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (node === undefined || dt <= 0) continue;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') continue;
    const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
    const location = cf.url === '' ? '' : `${path.basename(cf.url)}:${cf.lineNumber + 1}`;
    const key = `${name}@${location}`;
    const t = totals.get(key) ?? { name, location, us: 0 };
    t.us += dt;
    totals.set(key, t);
    all += dt;
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((t) => ({ name: t.name, location: t.location, selfMs: t.us / 1000, selfPct: all > 0 ? (100 * t.us) / all : 0 }));
}

/** Reads `file` and renders the top `n` self-time functions as a markdown table. */
export function summarizeProfileFile(file: string, n = 15): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const rows = topSelfTime(profile, n).map((h) => `| ${h.selfPct.toFixed(1)}% | ${h.selfMs.toFixed(0)} | \`${h.name}\` | ${h.location} |`);
  return ['| self % | self ms | function | location |', '| ---: | ---: | --- | --- |', ...rows].join('\n');
}
