/**
 * Compiles a route's `hash_policy` list (`envoy.config.route.v3.RouteAction.HashPolicy`) into
 * `HashPolicyModel[]`, the request-hash inputs of RING_HASH clusters: `header` (lowercased
 * `header_name`), `cookie` (`name` only: Remora never generates cookies, so `ttl`, `path` and
 * `attributes` are rejected), `connection_properties.source_ip` and `query_parameter`, each with
 * `terminal`. `filter_state` and header `regex_rewrite` are rejected as unsupported.
 */
import type { HashPolicyModel } from '../model';
import { bool, Issues, joinPath, msg, onlyFields, str } from './context';
import type { ProtoObject } from './proto-json';

const HEADER_NAME_RE = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function compileHashPolicy(issues: Issues, hp: ProtoObject, path: string): HashPolicyModel | null {
  const before = issues.count;
  onlyFields(issues, hp, path, ['header', 'cookie', 'connection_properties', 'query_parameter', 'terminal']);
  const terminal = bool(hp, 'terminal') ?? false;
  let out: HashPolicyModel | null = null;
  const header = msg(hp, 'header');
  const cookie = msg(hp, 'cookie');
  const conn = msg(hp, 'connection_properties');
  const query = msg(hp, 'query_parameter');
  if (header !== undefined) {
    const p = joinPath(path, 'header');
    onlyFields(issues, header, p, ['header_name']);
    const name = (str(header, 'header_name') ?? '').toLowerCase();
    if (name === '') issues.add(joinPath(p, 'header_name'), 'is required');
    else if (!HEADER_NAME_RE.test(name)) issues.add(joinPath(p, 'header_name'), `invalid header name '${name}'`);
    out = { kind: 'header', name, terminal };
  } else if (cookie !== undefined) {
    const p = joinPath(path, 'cookie');
    for (const f of ['ttl', 'path', 'attributes']) {
      const v = cookie[f];
      if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) issues.add(joinPath(p, f), 'is not supported by Remora: Remora hashes on an existing cookie and never generates one');
    }
    onlyFields(issues, cookie, p, ['name', 'ttl', 'path', 'attributes']);
    const name = str(cookie, 'name') ?? '';
    if (name === '') issues.add(joinPath(p, 'name'), 'is required');
    out = { kind: 'cookie', name, terminal };
  } else if (conn !== undefined) {
    const p = joinPath(path, 'connection_properties');
    onlyFields(issues, conn, p, ['source_ip']);
    if (bool(conn, 'source_ip') !== true) issues.add(joinPath(p, 'source_ip'), 'must be true (source_ip is the only connection property)');
    out = { kind: 'source_ip', terminal };
  } else if (query !== undefined) {
    const p = joinPath(path, 'query_parameter');
    onlyFields(issues, query, p, ['name']);
    const name = str(query, 'name') ?? '';
    if (name === '') issues.add(joinPath(p, 'name'), 'is required');
    out = { kind: 'query_parameter', name, terminal };
  } else if (hp['filter_state'] === undefined) {
    issues.add(path, 'one of header, cookie, connection_properties or query_parameter is required');
  } // filter_state was reported as unsupported by onlyFields.
  return issues.count === before ? out : null;
}

/** Compiles `hash_policy` entries in order (`path` is the RouteAction path). Config time only. */
export function compileHashPolicies(issues: Issues, hps: readonly ProtoObject[], path: string): HashPolicyModel[] {
  const out: HashPolicyModel[] = [];
  for (let i = 0; i < hps.length; i++) {
    const h = compileHashPolicy(issues, hps[i]!, `${joinPath(path, 'hash_policy')}[${i}]`);
    if (h !== null) out.push(h);
  }
  return out;
}
