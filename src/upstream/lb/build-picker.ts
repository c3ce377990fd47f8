/**
 * Builds the picker a cluster publishes for its current endpoint set: selects the priority level
 * (see `selectPriorityLevel`), then instantiates the cluster's `lb_policy`. Config-time only.
 */
import type { LbPolicy } from '../../config/model';
import type { Endpoint } from '../endpoint';
import { LeastRequestPicker } from './least-request';
import { FailPicker, selectPriorityLevel, type Picker, type PickerBuildOptions } from './picker';
import { RandomPicker } from './random';
import { RoundRobinPicker } from './round-robin';

/** A new immutable picker over `endpoints` (all of the cluster's, any health); a FailPicker when none is routable. */
export function buildPicker(policy: LbPolicy, endpoints: readonly Endpoint[], options: PickerBuildOptions): Picker {
  const level = selectPriorityLevel(endpoints);
  if (level.length === 0) return new FailPicker(options.clusterName);
  switch (policy) {
    case 'ROUND_ROBIN': return new RoundRobinPicker(level, options);
    case 'LEAST_REQUEST': return new LeastRequestPicker(level, options);
    case 'RANDOM': return new RandomPicker(level, options);
    case 'RING_HASH': return new RoundRobinPicker(level, options); // placeholder until the ring-hash picker lands
  }
}
