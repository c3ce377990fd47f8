/**
 * The `remora` command line. The only place that reads the environment (REMORA_TRACE,
 * REMORA_LOG_LEVEL) or exits the process. Exit codes: 0 success, 1 runtime failure, 2 bad input
 * (bad flags or an invalid config, reported with the file, field path and reason).
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors';
import { createRuntime } from '../core/runtime';
import { Sidecar } from '../sidecar/sidecar';
import { UsageError, parseDurationMs, parsePositiveInt } from './args';
import { runDemo } from './demo';

const USAGE = `remora — a gRPC-first service-mesh sidecar and control plane (xDS v3)

Usage:
  remora sidecar --bootstrap <envoy-bootstrap.yaml> [--drain-time 5s] [--admin-address-path <file>]
                 [--log-level info] [--h2-max-session-memory-mb 10]
  remora demo            start a greeter service behind a sidecar, call it, print replies and metrics
  remora help            this text

Environment: REMORA_LOG_LEVEL (default info), REMORA_TRACE=comp1,comp2 (verbose components).
`;

const SIDECAR_USAGE = `remora sidecar --bootstrap <file> [options]

Runs the data plane from an Envoy v3 Bootstrap (YAML or JSON; see docs/bootstrap.md).
  --bootstrap <file>              Envoy-shaped bootstrap (static listeners and clusters)
  --drain-time <duration>         how long SIGTERM / POST /drain waits for in-flight requests (default 5s)
  --admin-address-path <file>     write the bound admin address (host:port) to this file
  --log-level <level>             pino level: fatal|error|warn|info|debug|trace|silent
  --h2-max-session-memory-mb <n>  node:http2 memory cap per downstream connection (default 10)
  --xds <host:port> ...           dynamic config from a control plane (not in this build yet)
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sidecar':
        await sidecarCommand(rest);
        return;
      case 'demo':
        await runDemo();
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

async function sidecarCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      bootstrap: { type: 'string' },
      'drain-time': { type: 'string' },
      'admin-address-path': { type: 'string' },
      'log-level': { type: 'string' },
      'h2-max-session-memory-mb': { type: 'string' },
      xds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SIDECAR_USAGE);
    return;
  }
  if (values.xds !== undefined) throw new UsageError('--xds: dynamic configuration from a control plane is not in this build yet; use --bootstrap');
  if (values.bootstrap === undefined) throw new UsageError(`--bootstrap is required\n\n${SIDECAR_USAGE}`);
  const trace = new Set((process.env.REMORA_TRACE ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  const runtime = createRuntime({ logLevel: values['log-level'] ?? process.env.REMORA_LOG_LEVEL ?? 'info', trace });
  const sidecar = await Sidecar.start({
    bootstrapPath: values.bootstrap,
    runtime,
    drainTimeMs: values['drain-time'] !== undefined ? parseDurationMs(values['drain-time'], '--drain-time') : undefined,
    adminAddressPath: values['admin-address-path'],
    h2MaxSessionMemoryMb: values['h2-max-session-memory-mb'] !== undefined ? parsePositiveInt(values['h2-max-session-memory-mb'], '--h2-max-session-memory-mb') : undefined,
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
