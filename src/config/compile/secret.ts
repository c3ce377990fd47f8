/**
 * Compiles an SDS `envoy.extensions.transport_sockets.tls.v3.Secret` into a `SecretModel`: exactly
 * one of `tls_certificate` (certificate_chain + private_key DataSources) or `validation_context`
 * (`trusted_ca`, required, plus SAN matchers). `session_ticket_keys` and `generic_secret` are not
 * supported by Remora and are reported. Errors carry field paths relative to the resource.
 */
import type { ValidationResult } from '../../core/errors';
import type { SecretModel } from '../model';
import { CompileDeps, Issues, joinPath, msg, onlyFields, str } from './context';
import type { ProtoObject } from './proto-json';
import { compileTlsCertificate, compileValidationContext } from './tls';

export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** Compiles one decoded `Secret`. */
export function compileSecret(secret: ProtoObject, deps: CompileDeps): ValidationResult<SecretModel> {
  const issues = new Issues();
  onlyFields(issues, secret, '', ['name', 'tls_certificate', 'validation_context']);
  const name = str(secret, 'name') ?? '';
  if (name === '') issues.add('name', 'is required');
  const tc = msg(secret, 'tls_certificate');
  const vc = msg(secret, 'validation_context');
  let tlsCertificate: SecretModel['tlsCertificate'] = null;
  let validationContext: SecretModel['validationContext'] = null;
  if (tc === undefined && vc === undefined) issues.add('', 'one of tls_certificate or validation_context is required');
  if (tc !== undefined && vc !== undefined) issues.add('validation_context', 'only one of tls_certificate and validation_context may be set');
  if (tc !== undefined) {
    const c = compileTlsCertificate(issues, deps, tc, 'tls_certificate');
    if (c.certChain !== null && c.privateKey !== null) tlsCertificate = { certChain: c.certChain, privateKey: c.privateKey };
  }
  if (vc !== undefined) {
    const v = compileValidationContext(issues, deps, vc, 'validation_context');
    if (vc['trusted_ca'] === undefined) issues.add(joinPath('validation_context', 'trusted_ca'), 'is required');
    else if (v.trustedCa !== null) validationContext = { trustedCa: v.trustedCa, matchSubjectAltNames: v.matchSubjectAltNames };
  }
  return issues.result<SecretModel>({ name, tlsCertificate, validationContext });
}
