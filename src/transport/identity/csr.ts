/**
 * PKCS#10 certificate signing requests (RFC 2986) for workload identities, built with the
 * @peculiar/asn1-* schemas and signed with node:crypto: an empty subject, the public key, and an
 * `extensionRequest` attribute carrying one critical subjectAltName extension with the SPIFFE URI
 * (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`), as Istio's agent sends it. `parseCsr` is the
 * reverse, used by certificate authorities (and test fakes): it decodes a PEM CSR, verifies its
 * self-signature and returns the requested SANs and public key, or a clear error message.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import {
  AlgorithmIdentifier, Attribute, Extension, Extensions, GeneralName, Name, SubjectAlternativeName, SubjectPublicKeyInfo,
  id_ce_subjectAltName,
} from '@peculiar/asn1-x509';
import { derToPem, pemToDer } from './pem';

/** PKCS#9 extensionRequest. */
export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

/** Signature algorithm OID → node:crypto digest (null digest: the key type decides, e.g. Ed25519). */
const DIGEST_OF: ReadonlyMap<string, string | null> = new Map<string, string | null>([
  ['1.2.840.10045.4.3.2', 'sha256'], // ecdsa-with-SHA256
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.113549.1.1.11', 'sha256'], // sha256WithRSAEncryption
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
  ['1.3.101.112', null], // Ed25519
]);

export interface CsrOptions {
  /** The SPIFFE ID to request, e.g. `spiffe://cluster.local/ns/default/sa/greeter`. */
  readonly spiffeId: string;
  /** EC P-256 key pair (the private key signs the request and stays with the caller). */
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Builds and signs a CSR; returns it as PEM (`CERTIFICATE REQUEST`). */
export function createCsrPem(options: CsrOptions): string {
  const spki = AsnConvert.parse(options.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const san = new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: options.spiffeId })]);
  // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
  const extensions = new Extensions([new Extension({
    extnID: id_ce_subjectAltName, critical: true, extnValue: new OctetString(AsnConvert.serialize(san)),
  })]);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name(),
    subjectPKInfo: spki,
    attributes: new Attributes([new Attribute({ type: OID_EXTENSION_REQUEST, values: [AsnConvert.serialize(extensions)] })]),
  });
  const tbs = Buffer.from(AsnConvert.serialize(info));
  const signature = sign('sha256', tbs, options.privateKey); // DER ECDSA-Sig-Value
  const csr = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: OID_ECDSA_SHA256 }),
    signature: new Uint8Array(signature).buffer,
  });
  return derToPem(new Uint8Array(AsnConvert.serialize(csr)), 'CERTIFICATE REQUEST');
}

/** What a CA needs from a verified CSR. */
export interface ParsedCsr {
  /** The subject public key as a KeyObject and as SubjectPublicKeyInfo DER. */
  readonly publicKey: KeyObject;
  readonly publicKeyDer: Buffer;
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
}

export type ParseCsrResult = { readonly ok: true; readonly value: ParsedCsr } | { readonly ok: false; readonly error: string };

/**
 * Decodes a PEM CSR and verifies its signature with its own public key. Never throws: a malformed
 * request returns `{ok: false, error}` with a message fit for the caller (no internals).
 */
export function parseCsr(pem: string): ParseCsrResult {
  let der: Buffer;
  try {
    der = pemToDer(pem, 'CERTIFICATE REQUEST');
  } catch {
    return { ok: false, error: 'csr: not a PEM CERTIFICATE REQUEST' };
  }
  let csr: CertificationRequest;
  try {
    csr = AsnConvert.parse(der, CertificationRequest);
  } catch (err) {
    return { ok: false, error: `csr: malformed PKCS#10: ${(err as Error).message}` };
  }
  const info = csr.certificationRequestInfo;
  let publicKeyDer: Buffer;
  let publicKey: KeyObject;
  try {
    publicKeyDer = Buffer.from(AsnConvert.serialize(info.subjectPKInfo));
    publicKey = createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' });
  } catch (err) {
    return { ok: false, error: `csr: unusable public key: ${(err as Error).message}` };
  }
  const digest = DIGEST_OF.get(csr.signatureAlgorithm.algorithm);
  if (digest === undefined) return { ok: false, error: `csr: unsupported signature algorithm ${csr.signatureAlgorithm.algorithm}` };
  const tbs = csr.certificationRequestInfoRaw !== undefined
    ? Buffer.from(csr.certificationRequestInfoRaw)
    : Buffer.from(AsnConvert.serialize(info));
  let valid = false;
  try {
    valid = verify(digest, tbs, publicKey, Buffer.from(csr.signature));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, error: 'csr: signature does not verify with the request\'s public key' };
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  try {
    const attrs = info.attributes ?? [];
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs[i]!;
      if (a.type !== OID_EXTENSION_REQUEST) continue;
      for (const v of a.values) {
        const exts = AsnConvert.parse(v, Extensions);
        for (let j = 0; j < exts.length; j++) {
          const e = exts[j]!;
          if (e.extnID !== id_ce_subjectAltName) continue;
          const san = AsnConvert.parse(e.extnValue.buffer, SubjectAlternativeName);
          for (let k = 0; k < san.length; k++) {
            const g = san[k]!;
            if (g.uniformResourceIdentifier !== undefined) uriSans.push(g.uniformResourceIdentifier);
            if (g.dNSName !== undefined) dnsSans.push(g.dNSName);
          }
        }
      }
    }
  } catch (err) {
    return { ok: false, error: `csr: malformed extension request: ${(err as Error).message}` };
  }
  return { ok: true, value: { publicKey, publicKeyDer, uriSans, dnsSans } };
}
