/**
 * The `remora` command line. The only place that reads the environment (REMORA_TRACE,
 * REMORA_LOG_LEVEL) or exits the process. Exit codes: 0 success, 1 runtime failure, 2 bad input
 * (bad flags or an invalid config, reported with the file, field path and reason).
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors';
import { createRuntime } from '../core/runtime';
import { Sidecar, type SidecarIdentityOptions } from '../sidecar/sidecar';
import { buildAdsBootstrap, parseHostPort } from '../xds/ads-bootstrap';
import { UsageError, parseDurationMs, parsePort, parsePositiveInt } from './args';
import { controlPlaneCommand, statusCommand, validateCommand } from './control-plane-commands';
import { runDemo } from './demo';
import { runMeshDemo } from './mesh-demo';
import { caCommand } from './ca-command';
import { injectCommand } from './inject-command';

const USAGE = `remora — a gRPC-first service-mesh sidecar and control plane (xDS v3)

Usage:
  remora sidecar --bootstrap <envoy-bootstrap.yaml> [--drain-time 5s] [--admin-address-path <file>]
                 [--log-level info] [--h2-max-session-memory-mb 10]
  remora sidecar --xds <host:port> --node-id <id> [--workload <name>] [--namespace <ns>]
                 [--service-account <sa>] [--app-port <port> ...] [--label k=v ...] [--cluster <c>]
                 [--admin-port 15000] [--xds-tls --ca-address <host:port> --ca-token-file <file>]
  remora control-plane --config <file|dir> [--xds-port 15010] [--admin-port 15014]
  remora validate <mesh.yaml|dir>      check mesh config offline (exit 2 when invalid)
  remora ca init --dir <dir> | remora ca issue --dir <dir> --ns <ns> --sa <sa> --out <prefix>
                         create a mesh root CA outside the repo / mint a workload certificate
  remora status [--control-plane 127.0.0.1:15014]   per-node xDS versions and ACK/NACK state
  remora inject -f <file|-> [-o <file>] [--image <ref>] [--control-plane <host:port>]
                [--ca-address <host:port>] [--template <file>]
                         print Kubernetes YAML with the sidecar added to every pod template
  remora demo            the mesh: control plane + greeter v1/v2 behind sidecars + a client sidecar;
                         prints the 90/10 split, canary routing, a live edit to 50/50 and remora status
  remora demo --static   one sidecar from a static Envoy bootstrap in front of the greeter
  remora help            this text

Environment: REMORA_LOG_LEVEL (default info), REMORA_TRACE=comp1,comp2 (verbose components).
`;

const SIDECAR_USAGE = `remora sidecar --bootstrap <file> [options]
remora sidecar --xds <host:port> --node-id <id> [options]

Runs the data plane from an Envoy v3 Bootstrap (YAML or JSON; see docs/bootstrap.md), or from a
control plane over ADS (xDS v3, State of the World).
  --bootstrap <file>              Envoy-shaped bootstrap (static resources and/or dynamic_resources.ads_config)
  --xds <host:port>               control plane ADS address (insecure gRPC); builds the bootstrap in memory
  --xds-tls                       connect to the control plane's secure xDS port (--xds-tls-port) over
                                  mTLS with the workload certificate; requires --xds and --ca-address;
                                  the server must present spiffe://<trust-domain>/ns/remora-system/sa/
                                  remora-control-plane and chain to the CA's roots
  --xds-server-id <spiffe-id>     with --xds-tls: the SPIFFE ID the control plane must present
  --node-id <id>                  node.id (required with --xds)
  --cluster <name>                node.cluster (default: --workload, else --node-id)
  --workload <name>               node metadata WORKLOAD_NAME
  --namespace <ns>                node metadata NAMESPACE
  --service-account <sa>          node metadata SERVICE_ACCOUNT
  --app-port <port>               node metadata APP_PORTS (repeatable)
  --label <k=v>                   node metadata LABELS (repeatable)
  --admin-port <port>             admin port on 127.0.0.1 with --xds (default 15000)
  --health-port <port>            also serve GET /healthz/ready on 0.0.0.0:<port> (Istio: 15021), for
                                  kubelet probes; the admin API stays on loopback
  --outbound-port <port>          node metadata OUTBOUND_PORT: outbound listener port (default 15001)
  --inbound-port <port>           node metadata INBOUND_PORT: inbound listener port (default 15006)
  --drain-time <duration>         how long SIGTERM / POST /drain waits for in-flight requests (default 5s)
  --admin-address-path <file>     write the bound admin address (host:port) to this file
  --log-level <level>             pino level: fatal|error|warn|info|debug|trace|silent
  --h2-max-session-memory-mb <n>  node:http2 memory cap per downstream connection (default 10)
  --ca-address <host:port>        mesh CA: request a SPIFFE certificate at start and rotate it (SDS
                                  secrets 'default' and 'ROOTCA'); namespace and service account
                                  come from node metadata NAMESPACE / SERVICE_ACCOUNT
  --ca-token-file <file>          bearer token for the CA (re-read on every request)
  --trust-domain <td>             SPIFFE trust domain (default cluster.local)
  --cert-ttl <duration>           requested certificate lifetime (default 24h)
  --rotate-fraction <f>           renew at this fraction of the lifetime, with jitter (default 0.5)
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sidecar':
        await sidecarCommand(rest);
        return;
      case 'control-plane':
        await controlPlaneCommand(rest);
        return;
      case 'validate':
        await validateCommand(rest);
        return;
      case 'ca':
        await caCommand(rest);
        return;
      case 'status':
        await statusCommand(rest);
        return;
      case 'inject':
        await injectCommand(rest);
        return;
      case 'demo':
        if (rest.includes('--static')) await runDemo();
        else await runMeshDemo({ keep: rest.includes('--keep') });
        process.exit(0);
        return;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return;
      default:
        throw new UsageError(`unknown command '${command}'\n\n${USAGE}`);
    }
  } catch (err) {
    exitWithError(err);
  }
}

/** `remora sidecar` flags after every check: the flag values, the in-memory bootstrap for `--xds` and the identity. */
export interface SidecarArgs {
  readonly values: ReturnType<typeof parseSidecarFlags>['values'];
  /** The bootstrap `--xds` stands for (undefined with `--bootstrap`). */
  readonly bootstrapJson: unknown;
  readonly identity: SidecarIdentityOptions | undefined;
}

function parseSidecarFlags(args: string[]) {
  return parseArgs({
    args,
    options: {
      bootstrap: { type: 'string' },
      'drain-time': { type: 'string' },
      'admin-address-path': { type: 'string' },
      'log-level': { type: 'string' },
      'h2-max-session-memory-mb': { type: 'string' },
      xds: { type: 'string' },
      'xds-tls': { type: 'boolean' },
      'xds-server-id': { type: 'string' },
      'node-id': { type: 'string' },
      cluster: { type: 'string' },
      workload: { type: 'string' },
      namespace: { type: 'string' },
      'service-account': { type: 'string' },
      'app-port': { type: 'string', multiple: true },
      label: { type: 'string', multiple: true },
      'admin-port': { type: 'string' },
      'health-port': { type: 'string' },
      'outbound-port': { type: 'string' },
      'inbound-port': { type: 'string' },
      'ca-address': { type: 'string' },
      'ca-token-file': { type: 'string' },
      'trust-domain': { type: 'string' },
      'cert-ttl': { type: 'string' },
      'rotate-fraction': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}

/**
 * Parses and checks `remora sidecar` flags and builds the `--xds` bootstrap, without starting
 * anything or reading files. Throws UsageError (or node's ERR_PARSE_ARGS_* for unknown flags);
 * returns null for `--help`. Exported so injected manifests can be checked against the real parser.
 */
export function parseSidecarArgs(args: string[]): SidecarArgs | null {
  const { values } = parseSidecarFlags(args);
  if (values.help) return null;
  let bootstrapJson: unknown;
  const identity = identityFlags(values);
  if (values['xds-tls'] === true && values.xds === undefined) throw new UsageError('--xds-tls requires --xds (with --bootstrap, give the ADS cluster a transport_socket instead)');
  if (values['xds-server-id'] !== undefined && values['xds-tls'] !== true) throw new UsageError('--xds-server-id requires --xds-tls');
  if (values['xds-tls'] === true && identity === undefined) throw new UsageError(`--xds-tls requires a workload identity: --ca-address (and usually --ca-token-file)\n\n${SIDECAR_USAGE}`);
  if (values['xds-server-id'] !== undefined && !/^spiffe:\/\/[^/]+\/.+/.test(values['xds-server-id'])) throw new UsageError(`--xds-server-id: expected spiffe://<trust-domain>/<path>, got '${values['xds-server-id']}'`);
  if (values['health-port'] !== undefined) parsePort(values['health-port'], '--health-port');
  if (values.xds !== undefined) {
    if (values.bootstrap !== undefined) throw new UsageError('--xds and --bootstrap are mutually exclusive');
    if (values['node-id'] === undefined || values['node-id'] === '') throw new UsageError(`--node-id is required with --xds\n\n${SIDECAR_USAGE}`);
    try {
      parseHostPort(values.xds);
    } catch (err) {
      throw new UsageError(`--xds: ${(err as Error).message}`);
    }
    const labels: Record<string, string> = {};
    for (const l of values.label ?? []) {
      const eq = l.indexOf('=');
      if (eq <= 0) throw new UsageError(`--label: expected key=value, got '${l}'`);
      labels[l.slice(0, eq)] = l.slice(eq + 1);
    }
    const adminPort = values['admin-port'] !== undefined ? parsePort(values['admin-port'], '--admin-port') : 15000;
    bootstrapJson = buildAdsBootstrap({
      xds: values.xds,
      nodeId: values['node-id'],
      nodeCluster: values.cluster,
      workload: values.workload,
      namespace: values.namespace,
      serviceAccount: values['service-account'],
      appPorts: (values['app-port'] ?? []).map((p) => parsePort(p, '--app-port')),
      labels,
      adminPort,
      outboundPort: values['outbound-port'] !== undefined ? parsePort(values['outbound-port'], '--outbound-port') : undefined,
      inboundPort: values['inbound-port'] !== undefined ? parsePort(values['inbound-port'], '--inbound-port') : undefined,
      xdsTls: values['xds-tls'] === true ? { trustDomain: identity?.trustDomain, serverSpiffeId: values['xds-server-id'] } : null,
    });
  } else if (values.bootstrap === undefined) {
    throw new UsageError(`--bootstrap or --xds is required\n\n${SIDECAR_USAGE}`);
  }
  return { values, bootstrapJson, identity };
}

async function sidecarCommand(args: string[]): Promise<void> {
  const parsed = parseSidecarArgs(args);
  if (parsed === null) {
    process.stdout.write(SIDECAR_USAGE);
    return;
  }
  const { values, bootstrapJson, identity } = parsed;
  const trace = new Set((process.env.REMORA_TRACE ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  const runtime = createRuntime({ logLevel: values['log-level'] ?? process.env.REMORA_LOG_LEVEL ?? 'info', trace });
  const sidecar = await Sidecar.start({
    bootstrapPath: values.bootstrap,
    bootstrapJson,
    runtime,
    drainTimeMs: values['drain-time'] !== undefined ? parseDurationMs(values['drain-time'], '--drain-time') : undefined,
    adminAddressPath: values['admin-address-path'],
    healthAddress: values['health-port'] !== undefined ? { host: '0.0.0.0', port: parsePort(values['health-port'], '--health-port') } : undefined,
    h2MaxSessionMemoryMb: values['h2-max-session-memory-mb'] !== undefined ? parsePositiveInt(values['h2-max-session-memory-mb'], '--h2-max-session-memory-mb') : undefined,
    identity,
  });
  const onSignal = (signal: string) => {
    runtime.logger.info({ signal }, 'signal received, draining');
    void sidecar.drain();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // Drain may also start from POST /drain on the admin port; either way, exit 0 once it completes.
  await sidecar.drained;
  runtime.logger.info('drained, exiting');
  process.exit(0);
}

/** `--ca-address` and friends → SidecarOptions.identity (undefined without `--ca-address`). */
function identityFlags(values: Record<string, string | boolean | string[] | undefined>): SidecarIdentityOptions | undefined {
  const ca = values['ca-address'] as string | undefined;
  const others = ['ca-token-file', 'trust-domain', 'cert-ttl', 'rotate-fraction'].filter((k) => values[k] !== undefined);
  if (ca === undefined) {
    if (others.length > 0) throw new UsageError(`--${others[0]} requires --ca-address`);
    return undefined;
  }
  try {
    parseHostPort(ca);
  } catch (err) {
    throw new UsageError(`--ca-address: ${(err as Error).message}`);
  }
  const fraction = values['rotate-fraction'] === undefined ? undefined : Number(values['rotate-fraction']);
  if (fraction !== undefined && !(fraction > 0 && fraction < 1)) throw new UsageError(`--rotate-fraction: expected a number in (0, 1), got '${String(values['rotate-fraction'])}'`);
  const ttl = values['cert-ttl'] === undefined ? undefined : parseDurationMs(values['cert-ttl'] as string, '--cert-ttl');
  if (ttl !== undefined && ttl < 1000) throw new UsageError('--cert-ttl: must be at least 1s');
  return {
    caAddress: ca,
    caTokenFile: values['ca-token-file'] as string | undefined,
    trustDomain: values['trust-domain'] as string | undefined,
    certTtlMs: ttl,
    rotateFraction: fraction,
  };
}

function exitWithError(err: unknown): never {
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`remora: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`remora: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`remora: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
}
