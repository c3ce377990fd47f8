/**
 * Compiles `HttpConnectionManager.tracing` into TracingModel. (Stub: owned by the tracing work.)
 */
import type { TracingModel } from '../tracing-model';
import { Issues, joinPath, msg } from './context';
import type { ProtoObject } from './proto-json';

/** The HCM's `tracing`, or null when absent. */
export function compileTracing(issues: Issues, hcm: ProtoObject, path: string): TracingModel | null {
  const t = msg(hcm, 'tracing');
  if (t === undefined) return null;
  issues.add(joinPath(path, 'tracing'), 'tracing is not supported yet');
  return null;
}
