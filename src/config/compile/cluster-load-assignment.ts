/**
 * Compiles `envoy.config.endpoint.v3.ClusterLoadAssignment` (a cluster's `load_assignment`, or an EDS
 * resource) into endpoints. Localities are flattened: `locality` and the locality
 * `load_balancing_weight` are ignored (as Envoy does without locality-weighted LB), `priority` is kept
 * per endpoint. Addresses must be IP literals except for STRICT_DNS clusters.
 */
import type { ClusterLoadAssignmentModel, EndpointModel } from '../model';
import type { ValidationResult } from '../../core/errors';
import { compileSocketAddress, HostRule, Issues, joinPath, list, msg, num, onlyFields, str, wrappedInt } from './context';
import type { ProtoObject } from './proto-json';

const HEALTH = new Set(['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED']);

/** Compiles a standalone ClusterLoadAssignment (EDS); endpoint addresses must be IPs. */
export function compileClusterLoadAssignment(obj: ProtoObject, path = ''): ValidationResult<ClusterLoadAssignmentModel> {
  const issues = new Issues();
  const endpoints = compileEndpointsInto(issues, obj, path, 'ip');
  const clusterName = str(obj, 'cluster_name') ?? '';
  return issues.result({ clusterName, endpoints });
}

/** Compiles a ClusterLoadAssignment's endpoints into `issues` (`cluster_name` is required). */
export function compileEndpointsInto(issues: Issues, cla: ProtoObject, path: string, hostRule: HostRule): EndpointModel[] {
  onlyFields(issues, cla, path, ['cluster_name', 'endpoints', 'policy']);
  if ((str(cla, 'cluster_name') ?? '') === '') issues.add(joinPath(path, 'cluster_name'), 'is required');
  const policy = msg(cla, 'policy');
  if (policy !== undefined) onlyFields(issues, policy, joinPath(path, 'policy'), []);
  const out: EndpointModel[] = [];
  const groups = list(cla, 'endpoints');
  for (let i = 0; i < groups.length; i++) {
    const gp = `${joinPath(path, 'endpoints')}[${i}]`;
    const g = groups[i]!;
    onlyFields(issues, g, gp, ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority']);
    wrappedInt(issues, g, 'load_balancing_weight', gp, 1, 1, 0xffffffff);
    const priority = num(g, 'priority') ?? 0;
    if (priority > 128) issues.add(joinPath(gp, 'priority'), 'must be in 0..128');
    const lbs = list(g, 'lb_endpoints');
    for (let j = 0; j < lbs.length; j++) {
      const lp = `${joinPath(gp, 'lb_endpoints')}[${j}]`;
      const lb = lbs[j]!;
      onlyFields(issues, lb, lp, ['endpoint', 'health_status', 'load_balancing_weight', 'metadata']);
      const ep = msg(lb, 'endpoint');
      const epp = joinPath(lp, 'endpoint');
      if (ep === undefined) {
        issues.add(epp, 'is required');
        continue;
      }
      onlyFields(issues, ep, epp, ['address', 'hostname']);
      const addr = compileSocketAddress(issues, msg(ep, 'address'), joinPath(epp, 'address'), hostRule, 1);
      const weight = wrappedInt(issues, lb, 'load_balancing_weight', lp, 1, 1, 0xffffffff);
      const hs = str(lb, 'health_status') ?? 'UNKNOWN';
      if (!HEALTH.has(hs)) issues.add(joinPath(lp, 'health_status'), `invalid health_status ${hs}`);
      const md = msg(lb, 'metadata');
      const fm = md === undefined ? undefined : msg(md, 'filter_metadata');
      const metadata = fm === undefined || Object.keys(fm).length === 0 ? null : fm as Readonly<Record<string, unknown>>;
      if (addr !== null) out.push({ host: addr.host, port: addr.port, weight, priority, healthStatus: hs as EndpointModel['healthStatus'], metadata });
    }
  }
  return out;
}
