/**
 * `remora inject`: the IO around the pure transformation in `inject/inject.ts`. Reads the input
 * file (or stdin for `-f -`), loads the injection template (default `k8s/injection-template.yaml`
 * of this package), writes the injected YAML to stdout or `-o <file>`, and prints one note per
 * skipped pod template on stderr. Bad flags, bad input or a bad template are UsageErrors (exit 2)
 * and nothing is written to stdout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseHostPort } from '../xds/ads-bootstrap';
import { UsageError } from './args';
import { DEFAULT_CA_ADDRESS, DEFAULT_CONTROL_PLANE, DEFAULT_IMAGE, InjectError, formatInjectIssue, injectYaml, type InjectResult } from './inject/inject';
import { TemplateError, defaultTemplatePath, loadInjectionTemplate, type InjectionTemplate } from './inject/template';

export const INJECT_USAGE = `remora inject -f <file|-> [options]

Prints Kubernetes YAML with Remora's sidecar added to every pod template (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List), like istioctl kube-inject: an init
container (remora-init) that redirects the pod's TCP traffic to the sidecar with iptables, the
remora-proxy container (remora sidecar --xds ... --xds-tls), its CA token volume and the
sidecar.remora.dev/status annotation. Other documents are printed unchanged; comments inside an
injected pod template are not kept. Skipped, with a note on stderr: pod templates annotated
sidecar.remora.dev/inject: "false", hostNetwork pods, pods already injected.
  -f, --filename <file|->     input YAML (- reads stdin)
  -o, --output <file>         write here instead of stdout
  --image <ref>               sidecar and init image (default ${DEFAULT_IMAGE})
  --control-plane <host:port> secure xDS address (default ${DEFAULT_CONTROL_PLANE})
  --ca-address <host:port>    mesh CA address (default ${DEFAULT_CA_ADDRESS})
  --template <file>           injection template (default k8s/injection-template.yaml of this package)
Pod annotations: traffic.sidecar.remora.dev/excludeInboundPorts and excludeOutboundPorts
(comma-separated ports) bypass the sidecar.
`;

/** What the command needs from the outside world (tests pass their own). */
export interface InjectIo {
  readStdin(): string;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
}

const processIo: InjectIo = {
  readStdin: () => readFileSync(0, 'utf8'),
  writeStdout: (t) => void process.stdout.write(t),
  writeStderr: (t) => void process.stderr.write(t),
};

/** Runs `remora inject <args>`. Throws UsageError (exit 2) for bad flags, input or template. */
export async function injectCommand(args: string[], io: InjectIo = processIo): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      filename: { type: 'string', short: 'f' },
      output: { type: 'string', short: 'o' },
      image: { type: 'string' },
      'control-plane': { type: 'string' },
      'ca-address': { type: 'string' },
      template: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.writeStdout(INJECT_USAGE);
    return;
  }
  if (values.filename === undefined || values.filename === '') throw new UsageError(`-f <file|-> is required\n\n${INJECT_USAGE}`);
  for (const flag of ['control-plane', 'ca-address'] as const) {
    const v = values[flag];
    if (v === undefined) continue;
    try {
      parseHostPort(v);
    } catch (err) {
      throw new UsageError(`--${flag}: ${(err as Error).message}`);
    }
  }
  const image = values.image ?? DEFAULT_IMAGE;
  if (image.trim() === '' || /\s/.test(image)) throw new UsageError(`--image: expected an image reference, got '${image}'`);
  let template: InjectionTemplate;
  try {
    template = loadInjectionTemplate(values.template ?? defaultTemplatePath());
  } catch (err) {
    if (err instanceof TemplateError) throw new UsageError(err.message);
    throw err;
  }
  const source = values.filename === '-' ? '<stdin>' : values.filename;
  let text: string;
  try {
    text = values.filename === '-' ? io.readStdin() : readFileSync(values.filename, 'utf8');
  } catch (err) {
    throw new UsageError(`${source}: cannot read (${(err as Error).message})`);
  }
  let result: InjectResult;
  try {
    result = injectYaml(text, source, {
      image,
      controlPlane: values['control-plane'] ?? DEFAULT_CONTROL_PLANE,
      caAddress: values['ca-address'] ?? DEFAULT_CA_ADDRESS,
      template,
    });
  } catch (err) {
    if (err instanceof InjectError) throw new UsageError(err.message);
    throw err;
  }
  for (const n of result.notes) io.writeStderr(`remora inject: ${formatInjectIssue(source, n)}\n`);
  if (values.output !== undefined) {
    try {
      writeFileSync(values.output, result.output);
    } catch (err) {
      throw new UsageError(`-o ${values.output}: cannot write (${(err as Error).message})`);
    }
  } else {
    io.writeStdout(result.output);
  }
}
