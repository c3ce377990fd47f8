/**
 * The mesh CA's public surface: `MeshCa` (signing policy, roots, trust bundle), the gRPC service
 * (`addCaService`, `CaServer`), the bootstrap-token authenticator and the X.509 helpers.
 */
export { CaError, type CaErrorKind } from './ca-errors';
export { CaTokenFileError, MIN_TOKEN_LENGTH, TokenFileAuthenticator, type CaAuthenticator } from './ca-authenticator';
export { CA_SERVICE, CREATE_CERTIFICATE_PATH, loadCaDefinition, type CaDefinition, type WireCertificateRequest, type WireCertificateResponse } from './ca-proto';
export {
  CONTROL_PLANE_IDENTITY, CaServer, StaticCertificateProvider, addCaService, createCaServerCredentials,
  type CaServerCredentials, type CaServerOptions, type CaServiceOptions,
} from './ca-service';
export {
  CLOCK_SKEW_MS, DEFAULT_MAX_WORKLOAD_TTL_MS, DEFAULT_ROOT_TTL_MS, DEFAULT_TRUST_DOMAIN, DEFAULT_WORKLOAD_TTL_MS,
  MeshCa, createSelfSignedRoot, loadRoot,
  type IssuedCertificate, type MeshCaOptions, type RootInfo, type WorkloadIdentity,
} from './mesh-ca';
export {
  createCsr, createRootCa, generateKeyPair, issueLeafCertificate, loadSigningMaterial, parseAndVerifyCsr, pemCertificates, randomSerial, toPem,
  type CaKeyType, type CsrOptions, type CsrParseResult, type ParsedCsr, type SigningMaterial,
} from '../../transport/x509';
