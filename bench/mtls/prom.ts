/**
 * Reads the sidecars' connection counters from their admin `GET /stats/prometheus` (Prometheus text
 * exposition). The pair's proof of connection reuse is sidecar B's
 * `remora_downstream_connections_total{listener="<B>"}` — incremented once per completed mTLS
 * handshake whose client certificate was accepted — plus
 * `remora_downstream_connections_rejected_total{listener="<B>"}` (failed handshakes, refused client
 * certificates), read before and after the measured window. Pure parsing plus one HTTP GET.
 */
import * as http from 'node:http';
import { parsePrometheusText } from '../../src/control-plane/dashboard/prometheus-text';

/**
 * Sum of the samples of metric `name` in `text` whose labels include every pair of `labels`
 * (an empty `labels` sums every series), parsed with the dashboard's Prometheus text parser;
 * non-finite values are ignored; 0 when absent.
 */
export function sumSamples(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  const want = Object.entries(labels);
  for (const s of parsePrometheusText(text, (n) => n === name).samples) {
    if (!Number.isFinite(s.value)) continue;
    let ok = true;
    for (let j = 0; j < want.length; j++) if (s.labels[want[j][0]] !== want[j][1]) ok = false;
    if (ok) total += s.value;
  }
  return total;
}

/** Connection counters of one listener. */
export interface ListenerConnections {
  /** `remora_downstream_connections_total{listener}`: accepted connections (TLS: completed, accepted handshakes). */
  readonly accepted: number;
  /** `remora_downstream_connections_rejected_total{listener}` over every reason. */
  readonly rejected: number;
}

/** The connection counters of `listener` in Prometheus text `text`. */
export function listenerConnections(text: string, listener: string): ListenerConnections {
  return {
    accepted: sumSamples(text, 'remora_downstream_connections_total', { listener }),
    rejected: sumSamples(text, 'remora_downstream_connections_rejected_total', { listener }),
  };
}

/** `after − before`, field by field. */
export function diffConnections(before: ListenerConnections, after: ListenerConnections): ListenerConnections {
  return { accepted: after.accepted - before.accepted, rejected: after.rejected - before.rejected };
}

/** GETs `http://<admin>/stats/prometheus` (admin = `127.0.0.1:port`); rejects on non-200 or after 5 s. */
export function fetchPrometheus(admin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${admin}/stats/prometheus`, { timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/stats/prometheus answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('/stats/prometheus timed out')));
    req.on('error', reject);
  });
}
