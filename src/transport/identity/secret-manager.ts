/**
 * The sidecar's store of TLS secrets by name, implementing `SecretSource` for listeners and
 * clusters. Two inputs:
 * - SDS: `Secret` resources accepted over ADS (`applySds` upserts/removals);
 * - the workload identity (`attachIdentity`): `default` = its certificate chain and private key,
 *   `ROOTCA` = its trust bundle (the roots in the CA response).
 * Effective values: `default` comes from the identity when one is attached (the control plane never
 * holds our key), else from SDS. `ROOTCA` is the union of the identity's roots and the SDS `ROOTCA`
 * trust bundle (deduplicated, concatenated PEM), so old and new roots are trusted together during a
 * root rotation; SAN matchers come from the SDS secret. Every other name is SDS-only. A removed SDS
 * secret keeps its last value (as Envoy keeps a warmed secret while referenced) but is reported.
 * Listeners (`onChange`) hear about every name whose effective value changed.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { SecretModel } from '../../config/model';
import type { SecretSource } from '../secret-source';
import { mergePemBundles } from './pem';
import type { IssuedCertificate, WorkloadIdentity } from './workload-identity';

/** Istio's names for the workload certificate and the trust bundle. */
export const WORKLOAD_CERT_SECRET = 'default';
export const ROOT_CA_SECRET = 'ROOTCA';

export class SecretManager implements SecretSource {
  private readonly sds = new Map<string, SecretModel>();
  private readonly effective = new Map<string, SecretModel>();
  private readonly listeners = new Set<(name: string) => void>();
  private readonly waiters = new Map<string, Array<(s: SecretModel) => void>>();
  private readonly changes = new Map<string, number>();
  private identityCert: IssuedCertificate | null = null;
  private unsubscribeIdentity: (() => void) | null = null;

  constructor(private readonly logger: Logger | null = null) {}

  get(name: string): SecretModel | null {
    return this.effective.get(name) ?? null;
  }

  onChange(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  whenReady(name: string): Promise<SecretModel> {
    const s = this.effective.get(name);
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve) => {
      let list = this.waiters.get(name);
      if (list === undefined) this.waiters.set(name, list = []);
      list.push(resolve);
    });
  }

  /** How many times the effective value of `name` was set or changed (0 while unknown). */
  changeCount(name: string): number {
    return this.changes.get(name) ?? 0;
  }

  /** Names with a known value, sorted (admin and config dump). */
  names(): string[] {
    return [...this.effective.keys()].sort();
  }

  /**
   * Feeds `default` and `ROOTCA` from `identity` (now, if it has a certificate, and after every
   * renewal). Replaces a previously attached identity.
   */
  attachIdentity(identity: WorkloadIdentity): void {
    this.unsubscribeIdentity?.();
    this.unsubscribeIdentity = identity.onChange((cert) => this.setIdentityCertificate(cert));
    const cert = identity.current();
    if (cert !== null) this.setIdentityCertificate(cert);
  }

  /** Sets the identity's certificate directly (what `attachIdentity` does on every renewal). */
  setIdentityCertificate(cert: IssuedCertificate): void {
    this.identityCert = cert;
    this.recompute(WORKLOAD_CERT_SECRET);
    this.recompute(ROOT_CA_SECRET);
  }

  /** Applies SDS upserts and removals (from the ADS client, in response order). */
  applySds(upserts: readonly SecretModel[], removals: readonly string[]): void {
    for (const s of upserts) this.sds.set(s.name, s);
    for (const name of removals) {
      if (this.sds.has(name)) this.logger?.warn({ secret: name }, 'SDS secret removed by the control plane; keeping its last value while referenced');
    }
    for (const s of upserts) this.recompute(s.name);
  }

  /** Stops listening to the identity (the sidecar's close). */
  close(): void {
    this.unsubscribeIdentity?.();
    this.unsubscribeIdentity = null;
  }

  private compute(name: string): SecretModel | null {
    const sds = this.sds.get(name) ?? null;
    const id = this.identityCert;
    if (name === WORKLOAD_CERT_SECRET && id !== null) {
      return { name, tlsCertificate: { certChain: id.certChain, privateKey: id.privateKey }, validationContext: null };
    }
    if (name === ROOT_CA_SECRET && id !== null && id.roots.length > 0) {
      const sdsVc = sds?.validationContext ?? null;
      const trustedCa = mergePemBundles([sdsVc?.trustedCa ?? null, id.roots]);
      return { name, tlsCertificate: null, validationContext: { trustedCa, matchSubjectAltNames: sdsVc?.matchSubjectAltNames ?? [] } };
    }
    return sds;
  }

  private recompute(name: string): void {
    const next = this.compute(name);
    if (next === null) return;
    const prev = this.effective.get(name);
    if (prev !== undefined && isDeepStrictEqual(prev, next)) return;
    this.effective.set(name, next);
    this.changes.set(name, (this.changes.get(name) ?? 0) + 1);
    const waiting = this.waiters.get(name);
    if (waiting !== undefined) {
      this.waiters.delete(name);
      for (const w of waiting) w(next);
    }
    for (const l of Array.from(this.listeners)) {
      try {
        l(name);
      } catch (err) {
        this.logger?.error({ err, secret: name }, 'a secret listener threw');
      }
    }
  }
}
