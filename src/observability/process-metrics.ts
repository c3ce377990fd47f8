/**
 * Node.js process metrics (prom-client's default collectors: CPU, memory, heap spaces, event-loop
 * lag, GC, handles, file descriptors, `process_start_time_seconds`, `nodejs_version_info`) on a
 * per-process Registry. Both the sidecar and the control plane expose them. Registration is
 * idempotent per registry, so any component may ask for them without coordinating with others.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

/** A metric every prom-client version registers with the defaults; its presence marks them as registered. */
const MARKER = 'process_cpu_user_seconds_total';

/**
 * Registers the default process metrics on `registry` unless they are already there. Config time
 * (call once at startup; the event-loop and GC monitors start here). Returns whether it registered them.
 */
export function ensureProcessMetrics(registry: Registry): boolean {
  if (registry.getSingleMetric(MARKER) !== undefined) return false;
  collectDefaultMetrics({ register: registry });
  return true;
}
