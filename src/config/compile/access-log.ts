/**
 * Compiles `HttpConnectionManager.access_log` entries into AccessLogModel. (Stub: owned by the
 * access-log work.)
 */
import type { AccessLogModel } from '../access-log-model';
import { CompileDeps, Issues, joinPath, list } from './context';
import type { ProtoObject } from './proto-json';

/** The HCM's `access_log` entries ([] when none). */
export function compileAccessLogs(issues: Issues, _deps: CompileDeps, hcm: ProtoObject, path: string): AccessLogModel[] {
  const logs = list(hcm, 'access_log');
  if (logs.length > 0) issues.add(joinPath(path, 'access_log'), 'access logs are not supported yet');
  return [];
}
