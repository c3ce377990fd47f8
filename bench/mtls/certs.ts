/**
 * The benchmark's mesh identities: a fresh mesh CA (the project's own `MeshCa`, self-signed EC root)
 * issues one workload certificate per sidecar — `spiffe://cluster.local/ns/bench/sa/a` for the
 * client-side sidecar A and `…/sa/b` for the server-side sidecar B — and writes the root, both
 * leaves and both private keys as PEM files into a directory, so the generated bootstraps can
 * reference them by `filename` exactly as a static Envoy config would. Runs in the harness process
 * at start-up (a few milliseconds), never during a measurement.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshCa } from '../../src/control-plane/ca/mesh-ca';
import { systemClock, type Clock } from '../../src/core/clock';

/** The namespace both bench identities live in. */
export const BENCH_NAMESPACE = 'bench';

/** One workload's files and SPIFFE ID. */
export interface WorkloadCertFiles {
  readonly spiffeId: string;
  /** PEM leaf certificate (no chain: the root is the direct issuer and every peer trusts it). */
  readonly certFile: string;
  /** PEM PKCS#8 private key (mode 0600). */
  readonly keyFile: string;
}

/** Everything the two bootstraps reference. */
export interface BenchCertFiles {
  /** PEM of the mesh root: the `trusted_ca` of both sides. */
  readonly rootCaFile: string;
  /** Sidecar A (client side): `spiffe://<td>/ns/bench/sa/a`. */
  readonly a: WorkloadCertFiles;
  /** Sidecar B (server side): `spiffe://<td>/ns/bench/sa/b`. */
  readonly b: WorkloadCertFiles;
}

/**
 * Creates a self-signed mesh CA (trust domain `cluster.local`, EC keys), issues the `a` and `b`
 * identities of namespace `bench` with new EC keys (the CA's default 24 h lifetime) and writes
 * `root.pem`, `a.crt`, `a.key`, `b.crt`, `b.key` into `dir` (created if needed). Returns the paths.
 */
export function issueBenchCertificates(dir: string, clock: Clock = systemClock): BenchCertFiles {
  fs.mkdirSync(dir, { recursive: true });
  const ca = MeshCa.createSelfSigned({ clock });
  const rootCaFile = path.join(dir, 'root.pem');
  fs.writeFileSync(rootCaFile, ca.activeRootPem());
  const write = (sa: string): WorkloadCertFiles => {
    const issued = ca.issueWithNewKey({ namespace: BENCH_NAMESPACE, serviceAccount: sa });
    const certFile = path.join(dir, `${sa}.crt`);
    const keyFile = path.join(dir, `${sa}.key`);
    fs.writeFileSync(certFile, issued.certPem);
    fs.writeFileSync(keyFile, issued.keyPem, { mode: 0o600 });
    return { spiffeId: issued.spiffeId, certFile, keyFile };
  };
  return { rootCaFile, a: write('a'), b: write('b') };
}
