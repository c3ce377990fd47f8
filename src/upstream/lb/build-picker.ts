/**
 * Builds the picker a cluster publishes for its current endpoint set: selects the endpoints to
 * balance over (priority level and panic mode, see `selectHosts`), then instantiates the cluster's
 * `lb_policy`. Config-time only.
 */
import type { LbPolicy } from '../../config/model';
import type { Endpoint } from '../endpoint';
import { LeastRequestPicker } from './least-request';
import {
  DEFAULT_PANIC_THRESHOLD_PERCENT, FailPicker, selectHosts, type Picker, type PickerBuildOptions,
} from './picker';
import { RandomPicker } from './random';
import { RingHashPicker } from './ring-hash';
import { RoundRobinPicker } from './round-robin';

/**
 * A new immutable picker over `endpoints` (all of the cluster's, any health). A FailPicker when
 * `endpoints` is empty, or when none is routable and panic mode is disabled (threshold 0); with
 * the panic threshold (default 50%) a cluster with no routable endpoint routes to all of them.
 */
export function buildPicker(policy: LbPolicy, endpoints: readonly Endpoint[], options: PickerBuildOptions): Picker {
  const { hosts, panic } = selectHosts(endpoints, options.healthyPanicThresholdPercent ?? DEFAULT_PANIC_THRESHOLD_PERCENT);
  if (hosts.length === 0) return new FailPicker(options.clusterName);
  switch (policy) {
    case 'ROUND_ROBIN': return new RoundRobinPicker(hosts, options, panic);
    case 'LEAST_REQUEST': return new LeastRequestPicker(hosts, options, panic);
    case 'RANDOM': return new RandomPicker(hosts, options, panic);
    case 'RING_HASH': return new RingHashPicker(hosts, options, panic);
  }
}
