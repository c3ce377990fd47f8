/**
 * X.509 building blocks of the mesh CA, on `@peculiar/asn1-*` schemas with node:crypto doing every
 * key operation: a self-signed root (ECDSA P-256 or RSA), PKCS#10 CSR parsing and verification
 * (signature, allowed key types, the identities the CSR asks for), workload leaf issuance with a
 * single SPIFFE URI SAN, and the CSR builder the sidecar's workload identity (and tests) use.
 * Everything here is pure: the caller supplies times and serial bytes (RFC 5280 profile; SPIFFE
 * X.509-SVID profile, https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md). Parsers
 * return values (`CsrParseResult`) instead of throwing. Shared by the control plane's CA and the
 * sidecar, hence in transport/.
 */
import * as crypto from 'node:crypto';
import { AsnConvert, AsnParser, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  Attribute,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';

/** Key algorithms the CA generates and accepts. */
export type CaKeyType = 'ec' | 'rsa';

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
const OID_ECDSA_SHA512 = '1.2.840.10045.4.3.4';
const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
const OID_RSA_SHA384 = '1.2.840.113549.1.1.12';
const OID_RSA_SHA512 = '1.2.840.113549.1.1.13';
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** Signature algorithms accepted on CSRs: OID → [digest, key type]. */
const CSR_SIGNATURE_ALGORITHMS: ReadonlyMap<string, readonly [string, CaKeyType]> = new Map([
  [OID_ECDSA_SHA256, ['sha256', 'ec']],
  [OID_ECDSA_SHA384, ['sha384', 'ec']],
  [OID_ECDSA_SHA512, ['sha512', 'ec']],
  [OID_RSA_SHA256, ['sha256', 'rsa']],
  [OID_RSA_SHA384, ['sha384', 'rsa']],
  [OID_RSA_SHA512, ['sha512', 'rsa']],
]);

/** Upper bound on a PEM CSR we are willing to parse (an RSA-4096 CSR is ~1.7 KiB). */
export const MAX_CSR_PEM_BYTES = 16 * 1024;
/** Smallest RSA modulus accepted (on CSRs and for roots). */
export const MIN_RSA_BITS = 2048;

/** A private key and its certificate, as the CA holds them in memory. */
export interface SigningMaterial {
  readonly certDer: Buffer;
  readonly certPem: string;
  readonly privateKey: crypto.KeyObject;
  /** The parsed certificate (node:crypto), for notAfter, subject and verify(). */
  readonly cert: crypto.X509Certificate;
}

export interface RootOptions {
  /** Written as the subject O (Istio's convention: O=<trust domain>). */
  readonly trustDomain: string;
  readonly keyType: CaKeyType;
  /** RSA modulus bits (default 2048, minimum 2048); ignored for EC. */
  readonly rsaBits?: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Positive DER INTEGER content bytes; see `randomSerial()`. */
  readonly serial: Buffer;
  /** Subject CN (default "Remora Mesh Root CA"). */
  readonly commonName?: string;
}

export interface LeafOptions {
  readonly issuer: SigningMaterial;
  readonly subjectPublicKey: crypto.KeyObject;
  /** The one URI SAN, `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: Buffer;
  /**
   * Extra DNS / IP SANs, for the control plane's own serving certificate only (so TLS clients can
   * check the host name). Never filled from a CSR.
   */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** What a verified CSR carries. */
export interface ParsedCsr {
  readonly publicKey: crypto.KeyObject;
  /** `EC P-256` or `RSA <bits>`, for messages and logs. */
  readonly keyDescription: string;
  /** Subject CN, or null when absent. */
  readonly commonName: string | null;
  /** SANs requested through the PKCS#9 extensionRequest attribute. */
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly emails: readonly string[];
  /** Other GeneralName kinds requested (otherName, directoryName, …), by kind name. */
  readonly otherNames: readonly string[];
}

export type CsrParseResult = { readonly ok: true; readonly csr: ParsedCsr } | { readonly ok: false; readonly error: string };

/**
 * A fresh positive serial of 128 random bits as DER INTEGER content bytes (RFC 5280 §4.1.2.2
 * allows up to 20 octets): a leading 0x00 is added when the top bit is set, and a zero first octet
 * is bumped so the encoding stays minimal. `randomBytes` is the CSPRNG (node:crypto by default).
 */
export function randomSerial(randomBytes: (n: number) => Buffer = crypto.randomBytes): Buffer {
  const b = Buffer.from(randomBytes(16));
  if (b[0] === 0) b[0] = 1;
  return (b[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), b]) : b;
}

/** Generates a key pair of the CA's accepted kinds: EC P-256, or RSA with `rsaBits` (≥ 2048). */
export function generateKeyPair(keyType: CaKeyType, rsaBits = MIN_RSA_BITS): crypto.KeyPairKeyObjectResult {
  if (keyType === 'ec') return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  if (!Number.isInteger(rsaBits) || rsaBits < MIN_RSA_BITS) throw new RangeError(`RSA keys must have at least ${MIN_RSA_BITS} bits, got ${rsaBits}`);
  return crypto.generateKeyPairSync('rsa', { modulusLength: rsaBits });
}

/** Creates a self-signed root CA certificate and its key. Throws only on invalid options. */
export function createRootCa(options: RootOptions): SigningMaterial {
  if (!(options.notAfter.getTime() > options.notBefore.getTime())) throw new RangeError('root notAfter must be after notBefore');
  const { privateKey, publicKey } = generateKeyPair(options.keyType, options.rsaBits ?? MIN_RSA_BITS);
  const spki = spkiOf(publicKey);
  const name = buildName([[OID_O, options.trustDomain], [OID_CN, options.commonName ?? 'Remora Mesh Root CA']]);
  const ski = keyIdentifier(spki);
  const extensions = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature)),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ski)),
  ];
  const certDer = signCertificate({
    serial: options.serial,
    issuer: name,
    subject: name,
    spki,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    extensions,
  }, privateKey);
  return materialFrom(certDer, privateKey);
}

/**
 * Issues a workload certificate: empty subject, one critical SPIFFE URI SAN, keyUsage
 * digitalSignature+keyEncipherment, extKeyUsage serverAuth+clientAuth, CA:false, SKI/AKI, signed
 * by `issuer` with SHA-256. Returns the DER. The caller has already decided the validity window.
 */
export function issueLeafCertificate(options: LeafOptions): Buffer {
  const spki = spkiOf(options.subjectPublicKey);
  const issuerCert = AsnParser.parse(options.issuer.certDer, Certificate);
  const issuerSki = extensionValue(issuerCert, id_ce_subjectKeyIdentifier, SubjectKeyIdentifier);
  const aki = issuerSki !== null ? Buffer.from(issuerSki.buffer) : keyIdentifier(issuerCert.tbsCertificate.subjectPublicKeyInfo);
  const sanNames = [new GeneralName({ uniformResourceIdentifier: options.spiffeId })];
  for (const dns of options.dnsNames ?? []) sanNames.push(new GeneralName({ dNSName: dns }));
  for (const ip of options.ipAddresses ?? []) sanNames.push(new GeneralName({ iPAddress: ip }));
  const extensions = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment)),
    extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth, id_kp_clientAuth])),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki))),
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(aki) })),
    // RFC 5280 §4.2.1.6: with an empty subject the SAN extension is critical.
    extension(id_ce_subjectAltName, true, new SubjectAlternativeName(sanNames)),
  ];
  return signCertificate({
    serial: options.serial,
    issuer: issuerCert.tbsCertificate.subject,
    subject: new Name([]),
    spki,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    extensions,
  }, options.issuer.privateKey);
}

/**
 * Parses a PEM PKCS#10 CSR and verifies it: exactly one `CERTIFICATE REQUEST` block, a DER that
 * decodes, an accepted signature algorithm (ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512) matching
 * the key, a valid self-signature, and a key that is EC P-256 or RSA ≥ 2048 bits. Returns the
 * public key and the identities the CSR asks for, or an error naming the problem. Never throws.
 */
export function parseAndVerifyCsr(pem: string): CsrParseResult {
  if (typeof pem !== 'string' || pem.length === 0) return fail('the CSR is empty');
  if (pem.length > MAX_CSR_PEM_BYTES) return fail(`the CSR is ${pem.length} bytes, over the ${MAX_CSR_PEM_BYTES}-byte limit`);
  const der = pemBlock(pem, /^(NEW )?CERTIFICATE REQUEST$/);
  if (typeof der === 'string') return fail(der);
  let req: CertificationRequest;
  try {
    req = AsnParser.parse(der, CertificationRequest);
  } catch (err) {
    return fail(`the CSR is not a valid PKCS#10 structure (${(err as Error).message})`);
  }
  const info = req.certificationRequestInfo;
  if (info.version !== 0) return fail(`unsupported CSR version ${info.version} (expected 0)`);
  let publicKey: crypto.KeyObject;
  try {
    publicKey = crypto.createPublicKey({ key: Buffer.from(AsnSerializer.serialize(info.subjectPKInfo)), format: 'der', type: 'spki' });
  } catch (err) {
    return fail(`the CSR public key cannot be read (${(err as Error).message})`);
  }
  const keyType = publicKey.asymmetricKeyType;
  const details = publicKey.asymmetricKeyDetails ?? {};
  let keyDescription: string;
  if (keyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') return fail(`the CSR key is EC on curve ${details.namedCurve ?? 'unknown'}; only P-256 (prime256v1) is accepted`);
    keyDescription = 'EC P-256';
  } else if (keyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return fail(`the CSR key is RSA ${bits} bits; at least ${MIN_RSA_BITS} are required`);
    keyDescription = `RSA ${bits}`;
  } else {
    return fail(`the CSR key type ${keyType ?? 'unknown'} is not accepted (EC P-256 or RSA >= ${MIN_RSA_BITS})`);
  }
  const alg = CSR_SIGNATURE_ALGORITHMS.get(req.signatureAlgorithm.algorithm);
  if (alg === undefined) return fail(`the CSR signature algorithm ${req.signatureAlgorithm.algorithm} is not accepted (ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512)`);
  if (alg[1] !== keyType) return fail(`the CSR signature algorithm does not match its ${keyDescription} key`);
  const raw = req.certificationRequestInfoRaw;
  if (raw === undefined) return fail('the CSR request info cannot be read');
  let valid = false;
  try {
    valid = crypto.verify(alg[0], Buffer.from(raw), publicKey, Buffer.from(req.signature));
  } catch {
    valid = false;
  }
  if (!valid) return fail('the CSR signature does not verify against its own public key (tampered or corrupt CSR)');

  let commonName: string | null = null;
  for (const rdn of info.subject) {
    for (const atv of rdn) {
      if (atv.type === OID_CN) commonName = atv.value.toString();
    }
  }
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const emails: string[] = [];
  const otherNames: string[] = [];
  for (const attr of info.attributes) {
    if (attr.type !== OID_EXTENSION_REQUEST) continue;
    for (const value of attr.values) {
      let exts: Extensions;
      try {
        exts = AsnParser.parse(value, Extensions);
      } catch (err) {
        return fail(`the CSR extensionRequest attribute is malformed (${(err as Error).message})`);
      }
      for (const ext of exts) {
        if (ext.extnID !== id_ce_subjectAltName) continue;
        let san: SubjectAlternativeName;
        try {
          san = AsnParser.parse(ext.extnValue, SubjectAlternativeName);
        } catch (err) {
          return fail(`the CSR subjectAltName extension is malformed (${(err as Error).message})`);
        }
        for (const gn of san) {
          if (gn.uniformResourceIdentifier !== undefined) uris.push(gn.uniformResourceIdentifier);
          else if (gn.dNSName !== undefined) dnsNames.push(gn.dNSName);
          else if (gn.iPAddress !== undefined) ipAddresses.push(gn.iPAddress);
          else if (gn.rfc822Name !== undefined) emails.push(gn.rfc822Name);
          else otherNames.push(Object.keys(gn).find((k) => (gn as unknown as Record<string, unknown>)[k] !== undefined) ?? 'unknown');
        }
      }
    }
  }
  return { ok: true, csr: { publicKey, keyDescription, commonName, uris, dnsNames, ipAddresses, emails, otherNames } };
}

export interface CsrOptions {
  readonly privateKey: crypto.KeyObject;
  readonly publicKey: crypto.KeyObject;
  /** URI SANs (normally the one SPIFFE ID). */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** Subject CN; omitted when undefined. */
  readonly commonName?: string;
}

/**
 * Builds a PEM PKCS#10 CSR signed with `privateKey` (SHA-256): the subject (CN only, optional) and
 * a subjectAltName extensionRequest with the given URIs and DNS names. Used by agents (the private
 * key stays with them) and by tests to craft CSRs for other identities.
 */
export function createCsr(options: CsrOptions): string {
  const spki = spkiOf(options.publicKey);
  const names: GeneralName[] = [];
  for (const uri of options.uris ?? []) names.push(new GeneralName({ uniformResourceIdentifier: uri }));
  for (const dns of options.dnsNames ?? []) names.push(new GeneralName({ dNSName: dns }));
  const attributes = new Attributes();
  if (names.length > 0) {
    // RFC 5280 §4.2.1.6: with an empty subject the subjectAltName extension is critical.
    const exts = new Extensions([extension(id_ce_subjectAltName, options.commonName === undefined, new SubjectAlternativeName(names))]);
    attributes.push(new Attribute({ type: OID_EXTENSION_REQUEST, values: [AsnSerializer.serialize(exts)] }));
  }
  const info = new CertificationRequestInfo({
    version: 0,
    subject: options.commonName !== undefined ? buildName([[OID_CN, options.commonName]]) : new Name([]),
    subjectPKInfo: spki,
    attributes,
  });
  const infoDer = Buffer.from(AsnSerializer.serialize(info));
  const [algorithm, signature] = signWith(options.privateKey, infoDer);
  const req = new CertificationRequest({ certificationRequestInfo: info, signatureAlgorithm: algorithm, signature: toArrayBuffer(signature) });
  return toPem('CERTIFICATE REQUEST', Buffer.from(AsnSerializer.serialize(req)));
}

/** PEM-encodes DER with 64-column lines. */
export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Splits a PEM bundle into its `CERTIFICATE` blocks (DER each); other blocks are skipped. */
export function pemCertificates(pem: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m !== null; m = re.exec(pem)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return out;
}

/** Builds signing material from a certificate (PEM or DER) and its private key, checking they match. */
export function loadSigningMaterial(cert: string | Buffer, key: string | Buffer | crypto.KeyObject): SigningMaterial {
  const x = new crypto.X509Certificate(cert);
  const privateKey = key instanceof crypto.KeyObject ? key : crypto.createPrivateKey(key);
  if (!x.checkPrivateKey(privateKey)) throw new Error('the CA private key does not match the CA certificate');
  if (!x.ca) throw new Error('the certificate is not a CA certificate (basicConstraints CA:true is missing)');
  return materialFrom(x.raw, privateKey);
}

// ---- internals ----

interface TbsParts {
  serial: Buffer;
  issuer: Name;
  subject: Name;
  spki: SubjectPublicKeyInfo;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

function signCertificate(parts: TbsParts, signingKey: crypto.KeyObject): Buffer {
  const [algorithm] = signatureAlgorithmFor(signingKey);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(parts.serial),
    signature: algorithm,
    issuer: parts.issuer,
    validity: new Validity({ notBefore: parts.notBefore, notAfter: parts.notAfter }),
    subject: parts.subject,
    subjectPublicKeyInfo: parts.spki,
    extensions: new Extensions(parts.extensions),
  });
  const tbsDer = Buffer.from(AsnSerializer.serialize(tbs));
  const [, signature] = signWith(signingKey, tbsDer);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) });
  return Buffer.from(AsnSerializer.serialize(cert));
}

function signatureAlgorithmFor(key: crypto.KeyObject): [AlgorithmIdentifier, string] {
  if (key.asymmetricKeyType === 'ec') return [new AlgorithmIdentifier({ algorithm: OID_ECDSA_SHA256 }), 'sha256'];
  if (key.asymmetricKeyType === 'rsa') return [new AlgorithmIdentifier({ algorithm: OID_RSA_SHA256, parameters: DER_NULL }), 'sha256'];
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** Signs with SHA-256; ECDSA signatures come out DER-encoded (ECDSA-Sig-Value), as X.509 wants. */
function signWith(key: crypto.KeyObject, data: Buffer): [AlgorithmIdentifier, Buffer] {
  const [algorithm, digest] = signatureAlgorithmFor(key);
  return [algorithm, crypto.sign(digest, data, { key, dsaEncoding: 'der' })];
}

function spkiOf(publicKey: crypto.KeyObject): SubjectPublicKeyInfo {
  return AsnParser.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value. */
function keyIdentifier(spki: SubjectPublicKeyInfo): Buffer {
  return crypto.createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();
}

function extension(id: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function extensionValue<T>(cert: Certificate, id: string, type: new () => T): T | null {
  for (const ext of cert.tbsCertificate.extensions ?? []) {
    if (ext.extnID === id) return AsnParser.parse(ext.extnValue, type);
  }
  return null;
}

function buildName(pairs: ReadonlyArray<readonly [string, string]>): Name {
  return new Name(pairs.map(([type, value]) => new RelativeDistinguishedName([
    new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) }),
  ])));
}

function materialFrom(certDer: Buffer, privateKey: crypto.KeyObject): SigningMaterial {
  const der = Buffer.from(certDer);
  return { certDer: der, certPem: toPem('CERTIFICATE', der), privateKey, cert: new crypto.X509Certificate(der) };
}

/** Returns the DER of the single PEM block whose label matches, or an error message. */
function pemBlock(pem: string, label: RegExp): Buffer | string {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const blocks: Array<[string, string]> = [];
  for (let m = re.exec(pem); m !== null; m = re.exec(pem)) blocks.push([m[1]!, m[2]!]);
  if (blocks.length === 0) return 'the CSR is not PEM (no -----BEGIN CERTIFICATE REQUEST----- block)';
  if (blocks.length > 1) return `the CSR holds ${blocks.length} PEM blocks; exactly one CERTIFICATE REQUEST is expected`;
  const [name, body] = blocks[0]!;
  if (!label.test(name)) return `the PEM block is '${name}', not 'CERTIFICATE REQUEST'`;
  const compact = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length === 0) return 'the CSR PEM body is not valid base64';
  return Buffer.from(compact, 'base64');
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function fail(error: string): CsrParseResult {
  return { ok: false, error };
}
