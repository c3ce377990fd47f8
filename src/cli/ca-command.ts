/**
 * `remora ca init|issue`: offline tooling for the mesh CA. `init` creates a self-signed root
 * (ECDSA P-256 by default, RSA by option) and writes `root-cert.pem` and `root-key.pem` (mode 0600)
 * into a directory that must lie outside any git work tree (keys are never committed; `--allow-in-git`
 * overrides with a warning). `issue` mints a workload key and certificate (SPIFFE identity, optional
 * DNS/IP SANs) from that root, for tests and tools. Bad flags, missing files and invalid names are
 * UsageErrors (exit 2). The layout is documented in certs/README.md and the trust model in
 * docs/security.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../core/clock';
import { CaError } from '../control-plane/ca/ca-errors';
import { DEFAULT_ROOT_TTL_MS, DEFAULT_TRUST_DOMAIN, MeshCa, createSelfSignedRoot, loadRoot } from '../control-plane/ca/mesh-ca';
import type { CaKeyType } from '../transport/x509';
import { UsageError, parseDurationMs, parsePositiveInt } from './args';

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';

export const CA_USAGE = `remora ca init --dir <dir> [options]
remora ca issue --dir <dir> --ns <namespace> --sa <service-account> --out <prefix> [options]

Offline tooling for the mesh CA (docs/security.md, certs/README.md).

ca init: create a self-signed root CA in <dir> (created with mode 0700): root-cert.pem, root-key.pem (0600).
  --dir <dir>             where to write; must be outside any git work tree (keys are never committed)
  --trust-domain <td>     SPIFFE trust domain, recorded as the root's subject O (default cluster.local)
  --key-type ec|rsa       root key: ECDSA P-256 (default) or RSA
  --rsa-bits <n>          RSA modulus size with --key-type rsa (default 2048, minimum 2048)
  --ttl <duration>        root lifetime, e.g. 8760h (default 87600h = 10 years)
  --force                 overwrite an existing root in <dir>
  --allow-in-git          allow <dir> inside a git work tree (warns; make sure it is git-ignored)

ca issue: mint a workload key + certificate for spiffe://<td>/ns/<ns>/sa/<sa> from the root in <dir>.
Writes <prefix>-key.pem (0600), <prefix>-cert.pem (leaf) and <prefix>-chain.pem (leaf + root).
  --dir <dir>             the directory ca init wrote
  --ns <namespace>        Kubernetes-style namespace
  --sa <service-account>  Kubernetes-style service account
  --out <prefix>          output path prefix, e.g. /tmp/mesh/sleep
  --ttl <duration>        certificate lifetime (default 24h; never past the root's expiry)
  --key-type ec|rsa       workload key type (default ec)
  --dns <name>            extra DNS SAN (repeatable; for servers that need host-name checks)
  --ip <addr>             extra IP SAN (repeatable)
`;

export interface CaCommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** Runs `remora ca <args>`. Throws UsageError for bad input (the caller exits 2). */
export async function caCommand(args: string[], io: CaCommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'init':
      caInit(rest, io);
      return;
    case 'issue':
      caIssue(rest, io);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout.write(CA_USAGE);
      return;
    default:
      throw new UsageError(`unknown ca command '${sub}' (expected init or issue)\n\n${CA_USAGE}`);
  }
}

function caInit(args: string[], io: CaCommandIo): void {
  const values = parse(args, {
    dir: { type: 'string' }, 'trust-domain': { type: 'string' }, 'key-type': { type: 'string' }, 'rsa-bits': { type: 'string' },
    ttl: { type: 'string' }, force: { type: 'boolean' }, 'allow-in-git': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(CA_USAGE);
    return;
  }
  const dir = requireString(values.dir, '--dir');
  const trustDomain = str(values['trust-domain']) ?? DEFAULT_TRUST_DOMAIN;
  if (!/^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$/.test(trustDomain)) throw new UsageError(`--trust-domain: invalid trust domain '${trustDomain}' (lowercase letters, digits, '-', '.', '_')`);
  const keyType = parseKeyType(str(values['key-type']));
  const rsaBits = values['rsa-bits'] !== undefined ? parsePositiveInt(String(values['rsa-bits']), '--rsa-bits') : 2048;
  if (keyType === 'rsa' && rsaBits < 2048) throw new UsageError(`--rsa-bits: at least 2048 are required, got ${rsaBits}`);
  if (keyType === 'ec' && values['rsa-bits'] !== undefined) throw new UsageError('--rsa-bits requires --key-type rsa');
  const ttlMs = values.ttl !== undefined ? parseDurationMs(String(values.ttl), '--ttl') : DEFAULT_ROOT_TTL_MS;
  if (!(ttlMs > 0)) throw new UsageError('--ttl: must be positive');

  const absDir = path.resolve(dir);
  const gitRoot = enclosingGitWorkTree(absDir);
  if (gitRoot !== null) {
    if (values['allow-in-git'] !== true) {
      throw new UsageError(`--dir ${absDir} is inside the git work tree ${gitRoot}; CA keys must not live in a repository. Choose a directory outside it, or pass --allow-in-git (and make sure it is git-ignored)`);
    }
    io.stderr.write(`remora: warning: writing CA keys inside the git work tree ${gitRoot}; make sure ${absDir} is git-ignored and never committed\n`);
  }
  const certPath = path.join(absDir, ROOT_CERT_FILE);
  const keyPath = path.join(absDir, ROOT_KEY_FILE);
  if (values.force !== true && (fs.existsSync(certPath) || fs.existsSync(keyPath))) {
    throw new UsageError(`${absDir} already holds a CA (${ROOT_CERT_FILE}/${ROOT_KEY_FILE}); pass --force to replace it (every certificate it issued stops verifying)`);
  }
  try {
    fs.mkdirSync(absDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new UsageError(`--dir ${absDir}: cannot create (${(err as Error).message})`);
  }
  const root = createSelfSignedRoot({ trustDomain, keyType, rsaBits, ttlMs, clock: systemClock });
  writeSecret(keyPath, root.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  fs.writeFileSync(certPath, root.certPem, { mode: 0o644 });
  io.stdout.write(`created ${keyType === 'ec' ? 'ECDSA P-256' : `RSA ${rsaBits}`} root CA for trust domain ${trustDomain}\n`
    + `  ${certPath}\n  ${keyPath} (0600)\n  SHA-256 fingerprint ${root.cert.fingerprint256}, valid until ${root.cert.validTo}\n`);
}

function caIssue(args: string[], io: CaCommandIo): void {
  const values = parse(args, {
    dir: { type: 'string' }, ns: { type: 'string' }, sa: { type: 'string' }, out: { type: 'string' }, ttl: { type: 'string' },
    'key-type': { type: 'string' }, dns: { type: 'string', multiple: true }, ip: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(CA_USAGE);
    return;
  }
  const dir = path.resolve(requireString(values.dir, '--dir'));
  const namespace = requireString(values.ns, '--ns');
  const serviceAccount = requireString(values.sa, '--sa');
  const out = requireString(values.out, '--out');
  const ttlMs = values.ttl !== undefined ? parseDurationMs(String(values.ttl), '--ttl') : 24 * 3_600_000;
  if (!(ttlMs > 0)) throw new UsageError('--ttl: must be positive');
  const keyType = parseKeyType(str(values['key-type']));
  const certPem = readRequired(path.join(dir, ROOT_CERT_FILE), dir);
  const keyPem = readRequired(path.join(dir, ROOT_KEY_FILE), dir);
  let ca: MeshCa;
  try {
    const root = loadRoot(certPem, keyPem);
    const trustDomain = /(?:^|\n)O=([^\n]+)/.exec(root.cert.subject)?.[1] ?? DEFAULT_TRUST_DOMAIN;
    ca = new MeshCa({ trustDomain, clock: systemClock, root, defaultTtlMs: ttlMs, maxTtlMs: ttlMs });
  } catch (err) {
    throw new UsageError(`${dir}: cannot load the CA (${(err as Error).message})`);
  }
  let issued: ReturnType<MeshCa['issueWithNewKey']>;
  try {
    issued = ca.issueWithNewKey({ namespace, serviceAccount }, { ttlMs, keyType, dnsNames: asList(values.dns), ipAddresses: asList(values.ip) });
  } catch (err) {
    if (err instanceof CaError) throw new UsageError(err.message);
    throw new UsageError(`cannot issue: ${(err as Error).message}`);
  }
  const outDir = path.dirname(path.resolve(out));
  if (!fs.existsSync(outDir)) throw new UsageError(`--out: directory ${outDir} does not exist`);
  const keyPath = `${out}-key.pem`;
  const leafPath = `${out}-cert.pem`;
  const chainPath = `${out}-chain.pem`;
  writeSecret(keyPath, issued.keyPem);
  fs.writeFileSync(leafPath, issued.certPem);
  fs.writeFileSync(chainPath, issued.certChainPem.join(''));
  io.stdout.write(`issued ${issued.spiffeId} (serial ${issued.serialHex}, valid until ${issued.notAfter.toISOString()})\n`
    + `  ${keyPath} (0600)\n  ${leafPath}\n  ${chainPath}\n`);
}

// ---- helpers ----

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse(args: string[], options: Options): Record<string, string | boolean | string[] | boolean[] | undefined> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | string[] | boolean[] | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${CA_USAGE}`);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function asList(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

function requireString(v: unknown, flag: string): string {
  if (typeof v !== 'string' || v === '') throw new UsageError(`${flag} is required\n\n${CA_USAGE}`);
  return v;
}

function parseKeyType(v: string | undefined): CaKeyType {
  if (v === undefined || v === 'ec') return 'ec';
  if (v === 'rsa') return 'rsa';
  throw new UsageError(`--key-type: expected ec or rsa, got '${v}'`);
}

function readRequired(file: string, dir: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${file}: no such file (run 'remora ca init --dir ${dir}' first)`);
    throw new UsageError(`${file}: cannot read (${(err as Error).message})`);
  }
}

/** Writes a private key with mode 0600 (also when the file existed with wider permissions). */
function writeSecret(file: string, contents: string): void {
  fs.writeFileSync(file, contents, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** The nearest ancestor (of `dir` or its closest existing parent) holding `.git`, or null. */
export function enclosingGitWorkTree(dir: string): string | null {
  let cur = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(path.join(cur, '.git'))) return cur;
    const parent = path.dirname(cur);
    if (parent === cur) return null;
    cur = parent;
  }
}
