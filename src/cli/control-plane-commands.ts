/**
 * CLI commands of the control plane: `remora control-plane` (serve), `remora validate` (offline
 * check with the same errors, exit 2 when invalid) and `remora status` (every connected node's
 * per-type version and ACK/NACK state, like `istioctl proxy-status`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../core/clock';
import { DEFAULT_TRUST_DOMAIN, MeshCa, loadRoot } from '../control-plane/ca/mesh-ca';
import { TokenFileAuthenticator } from '../control-plane/ca/ca-authenticator';
import { addCaService } from '../control-plane/ca/ca-service';
import { createRuntime } from '../core/runtime';
import { ControlPlane, MeshConfigError } from '../control-plane/control-plane';
import { formatMeshIssue, loadMeshConfig } from '../control-plane/mesh';
import { EtcdSourceConfigError, parseEtcdEndpoints } from '../control-plane/sources/etcd-source';
import { FileSource } from '../control-plane/sources/file-source';
import { UsageError, parseDurationMs, parsePort } from './args';
import { ROOT_CERT_FILE, ROOT_KEY_FILE } from './ca-command';

export const CONTROL_PLANE_USAGE = `remora control-plane (--config <file|dir> | --etcd <endpoints>) [options]

Serves xDS v3 (ADS, State of the World) from Istio-style mesh config (docs/mesh-config.md), watching
the file or directory, or an etcd key prefix: a change is debounced, validated, translated and
pushed; an invalid change is rejected whole and the last good config keeps serving. Several
replicas may share one etcd: each serves whatever is under the prefix.
  --config <file|dir>     mesh config (multi-document YAML)
  --xds-port <port>       ADS port (default 15010)
  --admin-port <port>     admin port: /ready /stats/prometheus /debug/syncz /debug/config (default 15014)
  --host <addr>           bind address for both (default 127.0.0.1)
  --debounce <duration>   quiet period before a change is read (default 100ms)
  --etcd <endpoints>      read the mesh config from etcd instead (host:port or http(s):// URLs, comma-separated)
  --etcd-prefix <prefix>  every key under it is one YAML document (default /remora/)
  --ca-dir <dir>          mesh CA root (remora ca init): serve ADS over mTLS on --xds-tls-port and turn on
                          automatic mTLS between sidecars (PeerAuthentication, ROOTCA over SDS)
  --xds-tls-port <port>   secure ADS port with --ca-dir (default 15012); the node identity comes from
                          the client certificate's SPIFFE ID
  --root-namespace <ns>   namespace whose PeerAuthentication without selector is mesh-wide (default istio-system)
  --ca-tokens <file>      with --ca-dir: serve the mesh CA (istio.v1.auth.IstioCertificateService) on the
                          xDS ports; YAML/JSON map token → {namespace, serviceAccount} (docs/security.md)
  --log-level <level>     pino level (default info)
`;


/** `remora control-plane` flags after every check that needs no IO (see parseControlPlaneArgs). */
export interface ControlPlaneArgs {
  readonly values: ReturnType<typeof parseControlPlaneFlags>['values'];
  readonly etcd: { endpoints: string[]; prefix: string } | undefined;
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly xdsTlsPort: number;
  readonly debounceMs: number | undefined;
}

function parseControlPlaneFlags(args: string[]) {
  return parseArgs({
    args,
    options: {
      config: { type: 'string' }, 'xds-port': { type: 'string' }, 'admin-port': { type: 'string' }, host: { type: 'string' },
      debounce: { type: 'string' }, etcd: { type: 'string' }, 'etcd-prefix': { type: 'string' }, 'log-level': { type: 'string' },
      'ca-dir': { type: 'string' }, 'xds-tls-port': { type: 'string' }, 'root-namespace': { type: 'string' },
      'ca-tokens': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}

/**
 * Parses and checks `remora control-plane` flags without touching files or the network (the CA
 * directory and token file are read later, by the command). Throws UsageError, or node's
 * ERR_PARSE_ARGS_* errors for unknown flags. Returns null for `--help`. Exported so manifests
 * (k8s/control-plane.yaml) can be checked against the real parser.
 */
export function parseControlPlaneArgs(args: string[]): ControlPlaneArgs | null {
  const { values } = parseControlPlaneFlags(args);
  if (values.help) return null;
  if (values.etcd !== undefined && values.config !== undefined) throw new UsageError('--config and --etcd are mutually exclusive');
  if (values.etcd === undefined && values['etcd-prefix'] !== undefined) throw new UsageError('--etcd-prefix requires --etcd');
  if (values.config === undefined && values.etcd === undefined) throw new UsageError(`--config or --etcd is required\n\n${CONTROL_PLANE_USAGE}`);
  let etcd: { endpoints: string[]; prefix: string } | undefined;
  if (values.etcd !== undefined) {
    const prefix = values['etcd-prefix'] ?? '/remora/';
    if (prefix === '') throw new UsageError('--etcd-prefix: must not be empty');
    try {
      etcd = { endpoints: parseEtcdEndpoints(values.etcd), prefix };
    } catch (err) {
      if (err instanceof EtcdSourceConfigError) throw new UsageError(err.message);
      throw err;
    }
  }
  if (values['ca-dir'] === undefined && values['xds-tls-port'] !== undefined) throw new UsageError('--xds-tls-port requires --ca-dir');
  if (values['ca-dir'] === undefined && values['ca-tokens'] !== undefined) throw new UsageError('--ca-tokens requires --ca-dir');
  return {
    values,
    etcd,
    xdsPort: values['xds-port'] !== undefined ? parsePort(values['xds-port'], '--xds-port') : 15010,
    adminPort: values['admin-port'] !== undefined ? parsePort(values['admin-port'], '--admin-port') : 15014,
    xdsTlsPort: values['xds-tls-port'] !== undefined ? parsePort(values['xds-tls-port'], '--xds-tls-port') : 15012,
    debounceMs: values.debounce !== undefined ? parseDurationMs(values.debounce, '--debounce') : undefined,
  };
}

export async function controlPlaneCommand(args: string[]): Promise<void> {
  const parsed = parseControlPlaneArgs(args);
  if (parsed === null) {
    process.stdout.write(CONTROL_PLANE_USAGE);
    return;
  }
  const { values, etcd } = parsed;
  const ca = values['ca-dir'] !== undefined ? loadCaDir(values['ca-dir']) : undefined;
  const tokens = values['ca-tokens'] !== undefined ? loadCaTokens(values['ca-tokens']) : null;
  const sourceName = values.config ?? `etcd ${values.etcd} prefix ${etcd?.prefix}`;
  const runtime = createRuntime({ logLevel: values['log-level'] ?? process.env.REMORA_LOG_LEVEL ?? 'info' });
  let cp: ControlPlane;
  try {
    cp = await ControlPlane.start({
      configPath: values.config,
      etcd,
      runtime,
      xdsPort: parsed.xdsPort,
      adminPort: parsed.adminPort,
      host: values.host,
      debounceMs: parsed.debounceMs,
      ca,
      xdsTlsPort: parsed.xdsTlsPort,
      rootNamespace: values['root-namespace'],
      extraServices: ca !== undefined && tokens !== null ? (server) => addCaService(server, ca, tokens, { runtime }) : undefined,
    });
  } catch (err) {
    if (err instanceof MeshConfigError) throw new UsageError(`${sourceName}: ${err.message}`);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${values.config}: no such file or directory`);
    if (etcd !== undefined) throw new UsageError(`${sourceName}: cannot read the mesh config from etcd: ${(err as Error).message}`);
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await cp.stop();
  process.exit(0);
}

/** The CA's bootstrap-token file, or a usage error naming what is wrong with it. */
function loadCaTokens(file: string): TokenFileAuthenticator {
  try {
    return TokenFileAuthenticator.fromFile(file);
  } catch (err) {
    throw new UsageError(`--ca-tokens ${file}: ${(err as Error).message}`);
  }
}

/** The mesh CA in `dir` (`remora ca init` layout); its trust domain is the root's subject O. */
function loadCaDir(dir: string): MeshCa {
  const abs = path.resolve(dir);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = fs.readFileSync(path.join(abs, ROOT_CERT_FILE), 'utf8');
    keyPem = fs.readFileSync(path.join(abs, ROOT_KEY_FILE), 'utf8');
  } catch (err) {
    throw new UsageError(`--ca-dir ${abs}: ${(err as Error).message} (create it with remora ca init --dir ${dir})`);
  }
  try {
    const root = loadRoot(certPem, keyPem);
    const trustDomain = /(?:^|\n)O=([^\n]+)/.exec(root.cert.subject)?.[1] ?? DEFAULT_TRUST_DOMAIN;
    return new MeshCa({ trustDomain, clock: systemClock, root });
  } catch (err) {
    throw new UsageError(`--ca-dir ${abs}: cannot load the CA (${(err as Error).message})`);
  }
}

/** `remora validate <file|dir>`: the control plane's checks, offline. */
export async function validateCommand(args: string[]): Promise<void> {
  const target = args[0];
  if (target === undefined || target === '--help' || target === '-h') {
    if (target === undefined) throw new UsageError('usage: remora validate <mesh.yaml|dir>');
    process.stdout.write('remora validate <mesh.yaml|dir>: checks mesh config with the control plane\'s rules; exit 2 when invalid\n');
    return;
  }
  let files: ReadonlyMap<string, string>;
  try {
    files = (await new FileSource(target).read()).files;
  } catch (err) {
    throw new UsageError(`${target}: ${(err as Error).message}`);
  }
  const result = loadMeshConfig(files);
  if (!result.ok) throw new UsageError(`${target}: invalid mesh config:\n${result.errors.map((i) => '  ' + formatMeshIssue(i)).join('\n')}`);
  const c = result.config as unknown as Record<string, unknown[] | undefined>;
  const counts = ['serviceEntries', 'workloadEntries', 'virtualServices', 'destinationRules']
    .map((k) => `${Array.isArray(c[k]) ? c[k]!.length : 0} ${k}`).join(', ');
  process.stdout.write(`${target}: valid (${counts})\n`);
}

interface TypeStatus { type: string; state: string; versionSent: string | null; versionAcked: string | null; lastNack: { message: string; at: string } | null }
interface NodeStatusJson { nodeId: string; cluster: string; types: TypeStatus[] }

/** `remora status [--control-plane host:port]`: reads the control plane's /debug/syncz and /debug/config. */
export async function statusCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'control-plane': { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const base = `http://${values['control-plane'] ?? '127.0.0.1:15014'}`;
  let nodes: NodeStatusJson[];
  let config: { generation?: number; last_rejected?: { at: string; errors: string[] } | null } | null;
  try {
    nodes = (await (await fetch(`${base}/debug/syncz`)).json()) as NodeStatusJson[];
    config = (await (await fetch(`${base}/debug/config`)).json()) as typeof config;
  } catch (err) {
    throw new UsageError(`cannot reach the control plane admin at ${base}: ${(err as Error).message}`);
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({ nodes, config }, null, 2) + '\n');
    return;
  }
  const short = (t: string) => ({ Cluster: 'CDS', ClusterLoadAssignment: 'EDS', Listener: 'LDS', RouteConfiguration: 'RDS', Secret: 'SDS' } as Record<string, string>)[t.slice(t.lastIndexOf('.') + 1)] ?? t.slice(t.lastIndexOf('.') + 1).toUpperCase();
  const rows: string[][] = [['NODE', 'CLUSTER', 'CDS', 'EDS', 'LDS', 'RDS', 'LAST NACK']];
  for (const n of nodes) {
    const by = new Map(n.types.map((t) => [short(t.type), t]));
    const cell = (k: string) => {
      const t = by.get(k);
      if (t === undefined) return '-';
      return `${t.state}${t.versionAcked ? ' ' + t.versionAcked.slice(0, 8) : ''}`;
    };
    const nack = n.types.find((t) => t.lastNack !== null)?.lastNack ?? null;
    rows.push([n.nodeId, n.cluster, cell('CDS'), cell('EDS'), cell('LDS'), cell('RDS'), nack === null ? '' : `${nack.at} ${nack.message.replace(/\s+/g, ' ').slice(0, 160)}`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ') + '\n');
  if (config?.last_rejected) {
    process.stdout.write(`\nconfig generation ${config.generation}; last change REJECTED at ${config.last_rejected.at}:\n`);
    for (const e of config.last_rejected.errors) process.stdout.write(`  ${e}\n`);
  } else if (config) {
    process.stdout.write(`\nconfig generation ${config.generation}; no rejected change\n`);
  }
}
