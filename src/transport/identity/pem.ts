/**
 * PEM helpers for certificate material handled by the workload identity: splitting a bundle of
 * concatenated certificates, merging bundles, and reading the validity window and fingerprint of a
 * certificate through node:crypto's X509Certificate. Pure functions; nothing here touches files.
 */
import { X509Certificate } from 'node:crypto';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every `CERTIFICATE` PEM block in `text`, in order, each normalised to end with a newline. */
export function splitPemCertificates(text: string | Buffer): string[] {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  const out: string[] = [];
  const matches = s.match(CERT_BLOCK);
  if (matches === null) return out;
  for (let i = 0; i < matches.length; i++) out.push(matches[i]!.trim() + '\n');
  return out;
}

/**
 * The union of PEM bundles: each certificate once (by SHA-256 fingerprint), in fingerprint order, so
 * equal sets of roots give byte-equal bundles whatever order the sources listed them in.
 */
export function mergePemBundles(bundles: ReadonlyArray<string | Buffer | null>): Buffer {
  const byKey = new Map<string, string>();
  for (let i = 0; i < bundles.length; i++) {
    const b = bundles[i];
    if (b === null || b === undefined) continue;
    const certs = splitPemCertificates(b);
    for (let j = 0; j < certs.length; j++) {
      let key: string;
      try {
        key = new X509Certificate(certs[j]!).fingerprint256;
      } catch {
        key = certs[j]!;
      }
      if (!byKey.has(key)) byKey.set(key, certs[j]!);
    }
  }
  const keys = [...byKey.keys()].sort();
  let out = '';
  for (let i = 0; i < keys.length; i++) out += byKey.get(keys[i]!);
  return Buffer.from(out, 'utf8');
}

/** Validity window and identity facts of one certificate. */
export interface CertificateInfo {
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  /** URI SANs (`spiffe://…`). */
  readonly uriSans: readonly string[];
}

/** Parses one PEM certificate; throws on malformed input. */
export function certificateInfo(pem: string | Buffer): CertificateInfo {
  const c = new X509Certificate(pem);
  const uris: string[] = [];
  const san = c.subjectAltName;
  if (san !== undefined) {
    for (const part of san.split(', ')) if (part.startsWith('URI:')) uris.push(part.slice(4));
  }
  return {
    notBefore: Date.parse(c.validFrom),
    notAfter: Date.parse(c.validTo),
    serialNumber: c.serialNumber,
    fingerprint256: c.fingerprint256,
    uriSans: uris,
  };
}
