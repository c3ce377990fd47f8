/**
 * Istio's standard metrics (stub; owned by the metrics work).
 */
import type { Registry } from 'prom-client';
import type { ListenerModel, NodeModel } from '../config/model';
import type { StreamObserver } from './stream-info';

export class IstioMetrics {
  constructor(readonly registry: Registry, readonly node: NodeModel) {}

  /** The observer recording `istio_*` metrics for one listener's streams; null when the listener has no `istioStats`. */
  observerFor(listener: ListenerModel): StreamObserver | null {
    if (listener.hcm.istioStats === null) return null;
    return null;
  }
}
