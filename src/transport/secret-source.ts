/**
 * Where TLS material referenced by name comes from: SDS `Secret` resources (over ADS) and the
 * sidecar's own workload identity (`default`: its certificate and key; `ROOTCA`: the trust bundle,
 * Istio's names). Listeners and clusters whose TLS model names an SDS secret read the current value
 * here and rebuild their TLS context when it changes (new connections use the new material; open
 * connections keep theirs). Implemented by the sidecar's SecretManager.
 */
import type { SecretModel } from '../config/model';

export interface SecretSource {
  /** The current secret named `name`, or null while it is unknown. */
  get(name: string): SecretModel | null;
  /** Calls `listener(name)` after a secret was added or replaced; returns an unsubscribe function. */
  onChange(listener: (name: string) => void): () => void;
  /** Resolves with the secret once it is known (at once when it already is); for warming. */
  whenReady(name: string): Promise<SecretModel>;
}
