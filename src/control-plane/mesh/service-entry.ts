/**
 * Validates the `spec` of `ServiceEntry` and `WorkloadEntry` documents (Istio field names) into
 * their model types. Only per-document rules live here; cross-document rules (duplicate hosts,
 * selectors, references) are in `references.ts`.
 */
import { isIP } from 'node:net';
import type { DocContext, Path } from './document-context';
import type { PortProtocol, ResourceMeta, ServiceEntry, ServicePort, WorkloadEndpoint, WorkloadEntry } from './model';

const PROTOCOLS: readonly PortProtocol[] = ['GRPC', 'HTTP', 'HTTP2', 'TCP'];
const HOST_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const PORT_NAME_RE = /^[a-z0-9]([a-z0-9-_]*[a-z0-9])?$/i;

/** Is `h` a host name Remora accepts in `hosts` (lower-case DNS name, no wildcard, no port)? */
export function isValidHost(h: string): boolean {
  return HOST_RE.test(h);
}

function readPorts(ctx: DocContext, spec: Record<string, unknown>, path: Path): ServicePort[] {
  const raw = ctx.list(spec, 'ports', path);
  const pp = [...path, 'ports'];
  if (spec['ports'] === undefined || spec['ports'] === null) ctx.err(pp, 'is required (at least one port)');
  else if (Array.isArray(spec['ports']) && raw.length === 0) ctx.err(pp, 'must have at least one port');
  const out: ServicePort[] = [];
  const numbers = new Set<number>();
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const p = [...pp, i];
    const o = ctx.object(raw[i], p, ['number', 'name', 'protocol', 'targetPort']);
    if (o === null) continue;
    const before = ctx.errorCount;
    const number = ctx.integer(o, 'number', p, 1, 65535, true);
    const name = ctx.string(o, 'name', p, true);
    const protoRaw = ctx.string(o, 'protocol', p, true);
    const targetPort = ctx.integer(o, 'targetPort', p, 1, 65535);
    let protocol: PortProtocol | undefined;
    if (protoRaw !== undefined) {
      const up = protoRaw.toUpperCase();
      if ((PROTOCOLS as readonly string[]).includes(up)) protocol = up as PortProtocol;
      else ctx.err([...p, 'protocol'], `unsupported protocol '${protoRaw}'; expected one of ${PROTOCOLS.join(', ')}`);
    }
    if (name !== undefined && !PORT_NAME_RE.test(name)) ctx.err([...p, 'name'], `invalid port name '${name}'`);
    if (number !== undefined) {
      if (numbers.has(number)) ctx.err([...p, 'number'], `duplicate port number ${number}`);
      numbers.add(number);
    }
    if (name !== undefined) {
      if (names.has(name)) ctx.err([...p, 'name'], `duplicate port name '${name}'`);
      names.add(name);
    }
    if (ctx.errorCount === before) out.push({ number: number!, name: name!, protocol: protocol!, targetPort: targetPort ?? null });
  }
  return out.sort((a, b) => a.number - b.number);
}

/** Checks an endpoint address: an IP literal for STATIC, an IP or DNS name for DNS resolution. */
export function checkAddress(ctx: DocContext, address: string, path: Path, resolution: 'STATIC' | 'DNS'): void {
  if (address.startsWith('unix://')) ctx.err(path, 'unix domain socket addresses are not supported');
  else if (resolution === 'STATIC' && isIP(address) === 0) ctx.err(path, `must be an IP address for resolution STATIC, got '${address}'`);
  else if (resolution === 'DNS' && isIP(address) === 0 && !isValidHost(address)) ctx.err(path, `invalid address '${address}'`);
}

function readEndpoint(ctx: DocContext, v: unknown, path: Path, resolution: 'STATIC' | 'DNS', portNames: ReadonlySet<string>): WorkloadEndpoint | null {
  const o = ctx.object(v, path, ['address', 'ports', 'labels', 'weight'], ['network', 'locality', 'serviceAccount']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const address = ctx.string(o, 'address', path, true);
  if (address !== undefined) checkAddress(ctx, address, [...path, 'address'], resolution);
  const ports = ctx.portMap(o, 'ports', path);
  for (const n of Object.keys(ports)) if (!portNames.has(n)) ctx.err([...path, 'ports', n], `no port named '${n}' in spec.ports`);
  const labels = ctx.labels(o, 'labels', path);
  const weight = ctx.integer(o, 'weight', path, 1, 0xffffffff);
  if (ctx.errorCount !== before) return null;
  return { address: address!, ports, labels, weight: weight ?? null };
}

/** Validates a ServiceEntry spec; null when any issue was recorded for it. */
export function readServiceEntry(ctx: DocContext, meta: ResourceMeta, v: unknown): ServiceEntry | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['hosts', 'ports', 'resolution', 'location', 'endpoints', 'workloadSelector'], ['addresses', 'exportTo', 'subjectAltNames']);
  if (spec === null) return null;
  const hosts = ctx.stringList(spec, 'hosts', path, true);
  const seen = new Set<string>();
  hosts.forEach((h, i) => {
    if (h.includes('*')) ctx.err([...path, 'hosts', i], 'wildcard hosts are not supported yet');
    else if (!isValidHost(h)) ctx.err([...path, 'hosts', i], `invalid host '${h}'; expected a lower-case DNS name such as greeter.demo.svc`);
    if (seen.has(h)) ctx.err([...path, 'hosts', i], `duplicate host '${h}'`);
    seen.add(h);
  });
  const ports = readPorts(ctx, spec, path);
  let resolution: 'STATIC' | 'DNS' = 'STATIC';
  const res = ctx.string(spec, 'resolution', path);
  if (res === 'DNS' || res === 'DNS_ROUND_ROBIN') resolution = 'DNS';
  else if (res !== undefined && res !== 'STATIC') ctx.err([...path, 'resolution'], `unsupported resolution '${res}'; expected STATIC or DNS`);
  let location: 'MESH_INTERNAL' | 'MESH_EXTERNAL' = 'MESH_EXTERNAL';
  const loc = ctx.string(spec, 'location', path);
  if (loc === 'MESH_INTERNAL') location = 'MESH_INTERNAL';
  else if (loc !== undefined && loc !== 'MESH_EXTERNAL') ctx.err([...path, 'location'], `invalid location '${loc}'; expected MESH_INTERNAL or MESH_EXTERNAL`);

  const portNames = new Set(ports.map((p) => p.name));
  const endpoints: WorkloadEndpoint[] = [];
  const rawEps = ctx.list(spec, 'endpoints', path);
  for (let i = 0; i < rawEps.length; i++) {
    const ep = readEndpoint(ctx, rawEps[i], [...path, 'endpoints', i], resolution, portNames);
    if (ep !== null) endpoints.push(ep);
  }
  let workloadSelector: Record<string, string> | null = null;
  if (spec['workloadSelector'] !== undefined && spec['workloadSelector'] !== null) {
    const wp = [...path, 'workloadSelector'];
    const ws = ctx.object(spec['workloadSelector'], wp, ['labels']);
    if (ws !== null) {
      workloadSelector = ctx.labels(ws, 'labels', wp);
      if (Object.keys(workloadSelector).length === 0) ctx.err([...wp, 'labels'], 'must select at least one label');
    }
    if (rawEps.length > 0) ctx.err(wp, 'only one of endpoints or workloadSelector may be set');
  }
  // Returned even when invalid (valid parts only) so cross-document checks still run; a config with
  // any issue is never built.
  return { meta, hosts: hosts.filter((h) => isValidHost(h)), ports, resolution, location, endpoints, workloadSelector };
}

/** Validates a WorkloadEntry spec; null when any issue was recorded for it. */
export function readWorkloadEntry(ctx: DocContext, meta: ResourceMeta, v: unknown): WorkloadEntry | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['address', 'ports', 'labels', 'serviceAccount', 'weight'], ['network', 'locality']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const address = ctx.string(spec, 'address', path, true);
  // A WorkloadEntry address may be a DNS name only for DNS services; checked in references.ts.
  if (address !== undefined && isIP(address) === 0 && !isValidHost(address)) ctx.err([...path, 'address'], `invalid address '${address}'`);
  const ports = ctx.portMap(spec, 'ports', path);
  const labels = ctx.labels(spec, 'labels', path);
  const serviceAccount = ctx.string(spec, 'serviceAccount', path);
  const weight = ctx.integer(spec, 'weight', path, 1, 0xffffffff);
  if (ctx.errorCount !== before) return null;
  return { meta, address: address!, ports, labels, serviceAccount: serviceAccount ?? null, weight: weight ?? null };
}
