/**
 * Assertions on the sidecar's /stats/prometheus output: parse once (with the product's own
 * Prometheus text parser), then sum the samples of a metric whose labels include the given ones.
 */
import { parsePrometheusText } from '../../src/control-plane/dashboard/prometheus-text';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses exposition text into samples with the dashboard's parser (src/control-plane/dashboard/prometheus-text.ts). */
export function parseProm(text: string): Sample[] {
  return parsePrometheusText(text).samples;
}

/** A parsed snapshot of the metrics endpoint. */
export class Metrics {
  readonly samples: Sample[];
  readonly text: string;

  constructor(text: string) {
    this.text = text;
    this.samples = parseProm(text);
  }

  /** Sum of every sample named `name` whose labels include all of `labels` (0 when none match). */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    let total = 0;
    for (let i = 0; i < this.samples.length; i++) {
      const s = this.samples[i]!;
      if (s.name !== name) continue;
      let ok = true;
      for (const k of Object.keys(labels)) {
        if (s.labels[k] !== labels[k]) { ok = false; break; }
      }
      if (ok) total += s.value;
    }
    return total;
  }

  /** True when a `# TYPE name ...` line or any sample of `name` exists. */
  has(name: string): boolean {
    return this.text.includes(`# TYPE ${name} `) || this.samples.some((s) => s.name === name);
  }
}

/** GETs `${adminUrl}/stats/prometheus` and parses it. */
export async function fetchMetrics(adminUrl: string): Promise<Metrics> {
  const res = await fetch(`${adminUrl}/stats/prometheus`);
  if (res.status !== 200) throw new Error(`/stats/prometheus returned ${res.status}`);
  return new Metrics(await res.text());
}
