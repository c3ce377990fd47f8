/**
 * `envoy.type.v3.FractionalPercent` → `FractionalPercentModel` (numerator over 100, 10 000 or
 * 1 000 000). A numerator above its denominator's scale is rejected with the field path (Envoy
 * clamps it to 100 %; whoever wrote it most likely meant something else). Shared by every filter
 * config that samples a percentage (fault injection, local rate limit enablement).
 */
import type { FractionalPercentModel } from '../model';
import { Issues, joinPath, num, onlyFields, str } from './context';
import type { ProtoObject } from './proto-json';

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** 0 % (the value of an absent optional percentage in Envoy). */
export const ZERO_PERCENT: FractionalPercentModel = Object.freeze({ numerator: 0, denominator: 100 });

/** Compiles the FractionalPercent `o` at `path`; null (issue recorded) when invalid. */
export function compileFractionalPercent(issues: Issues, o: ProtoObject, path: string): FractionalPercentModel | null {
  onlyFields(issues, o, path, ['numerator', 'denominator']);
  const numerator = num(o, 'numerator') ?? 0;
  const denName = str(o, 'denominator') ?? 'HUNDRED';
  const denominator = DENOMINATORS[denName];
  if (denominator === undefined) {
    issues.add(joinPath(path, 'denominator'), `unknown denominator '${denName}' (HUNDRED, TEN_THOUSAND or MILLION)`);
    return null;
  }
  if (!Number.isInteger(numerator) || numerator < 0 || numerator > denominator) {
    issues.add(joinPath(path, 'numerator'), `must be an integer in 0..${denominator} for denominator ${denName}, got ${numerator}`);
    return null;
  }
  return { numerator, denominator };
}
