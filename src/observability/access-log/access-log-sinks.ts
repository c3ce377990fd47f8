/**
 * Access-log sinks (stub; owned by the access-log work).
 */
import type { AccessLogModel } from '../../config/access-log-model';
import type { ListenerModel } from '../../config/model';
import type { Runtime } from '../../core/runtime';
import type { StreamObserver } from '../stream-info';

export class AccessLogSinks {
  constructor(readonly runtime: Runtime) {}

  /** The observer writing one listener's `access_log` entry. */
  observerFor(_model: AccessLogModel, _listener: ListenerModel): StreamObserver | null {
    return null;
  }

  /** Flushes and closes every destination. */
  async close(): Promise<void> {}
}
