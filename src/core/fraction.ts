/**
 * Sampling a percentage given as numerator/denominator (Envoy's FractionalPercent): one draw from
 * the Runtime's RandomSource, none at all at 0 % or 100 %. Hot path; allocation-free.
 */
import type { RandomSource } from './clock';

/** True with probability `numerator / denominator`. */
export function sampleFraction(numerator: number, denominator: number, random: RandomSource): boolean {
  if (numerator >= denominator) return true;
  if (numerator <= 0) return false;
  return random.next() * denominator < numerator;
}
