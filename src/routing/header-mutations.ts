/**
 * Applies Envoy's `request/response_headers_to_add` and `*_headers_to_remove` to a Node headers object
 * in place, with `HeaderValueOption.append_action` semantics, and compiles the route → virtual host →
 * route configuration levels into as few `HeaderMutationLevel`s as give the same result. Per level,
 * Envoy removes first, then evaluates every add against the headers as they were after the removals,
 * applies the overwrites and then the appends (`HeaderParser::evaluateHeaders`). Works on plain objects
 * and on Node's null-prototype http2 header objects (whose Symbol keys are left alone).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/base.proto#config-core-v3-headervalueoption
 */
import type { HeaderValueOptionModel } from '../config/model';

/** A mutable Node-style header object (lowercase names). */
export type MutableHeaders = Record<string, string | string[] | undefined>;

/** One level of header mutations: `removes` are applied before `adds`. */
export interface HeaderMutationLevel {
  readonly adds: readonly HeaderValueOptionModel[];
  readonly removes: readonly string[];
}

/**
 * Applies one level of mutations to `headers` in place: every name in `removes` is deleted, then each
 * entry of `adds` whose value is non-empty (or has `keepEmptyValue`) is applied by its action:
 * - `APPEND_IF_EXISTS_OR_ADD`: adds another value (the header becomes an array) or adds the header;
 * - `ADD_IF_ABSENT`: adds only when the header is absent;
 * - `OVERWRITE_IF_EXISTS_OR_ADD`: sets the header to this single value;
 * - `OVERWRITE_IF_EXISTS`: sets it only when it is present.
 * Presence is judged on the headers after the removals and before any add of this call; overwrites are
 * applied before appends, as Envoy does. Synchronous; allocates only for appended arrays, and (when
 * one call names the same header twice) one array of decisions. Never throws.
 */
export function applyHeaderMutations(
  headers: MutableHeaders,
  adds: readonly HeaderValueOptionModel[],
  removes: readonly string[],
): void {
  for (let i = 0; i < removes.length; i++) deleteHeader(headers, removes[i]);
  if (adds.length === 0) return;
  if (hasDuplicateKeys(adds)) {
    applyWithDuplicates(headers, adds);
    return;
  }
  // Every entry touches a different header, so applying them in order is exactly Envoy's result.
  for (let i = 0; i < adds.length; i++) {
    const a = adds[i];
    if (a.value.length === 0 && !a.keepEmptyValue) continue;
    const present = isPresent(headers[a.key]);
    switch (a.action) {
      case 'APPEND_IF_EXISTS_OR_ADD':
        appendHeader(headers, a.key, a.value);
        break;
      case 'ADD_IF_ABSENT':
        if (!present) setHeader(headers, a.key, a.value);
        break;
      case 'OVERWRITE_IF_EXISTS':
        if (present) setHeader(headers, a.key, a.value);
        break;
      default: // OVERWRITE_IF_EXISTS_OR_ADD
        setHeader(headers, a.key, a.value);
        break;
    }
  }
}

/** Applies `levels` in order with `applyHeaderMutations`. Synchronous; never throws. */
export function applyHeaderMutationLevels(headers: MutableHeaders, levels: readonly HeaderMutationLevel[]): void {
  for (let i = 0; i < levels.length; i++) applyHeaderMutations(headers, levels[i].adds, levels[i].removes);
}

/**
 * Compiles mutation levels (most specific first, in application order) into the fewest levels that
 * give the same result: empty levels are dropped, and a level is merged into the previous one when it
 * removes no header the previous one adds, and every header both add is only ever appended
 * (otherwise the per-level remove-then-add and overwrite-then-append order is observable). Config
 * time only. @internal
 */
export function compileMutationLevels(levels: readonly HeaderMutationLevel[]): readonly HeaderMutationLevel[] {
  const out: { adds: HeaderValueOptionModel[]; removes: string[] }[] = [];
  for (const level of levels) {
    if (level.adds.length === 0 && level.removes.length === 0) continue;
    const prev = out.length > 0 ? out[out.length - 1] : null;
    if (prev !== null && canMerge(prev.adds, level)) {
      prev.adds.push(...level.adds);
      prev.removes.push(...level.removes);
    } else {
      out.push({ adds: [...level.adds], removes: [...level.removes] });
    }
  }
  return Object.freeze(out.map((l) => Object.freeze({ adds: Object.freeze(l.adds), removes: Object.freeze(l.removes) })));
}

function canMerge(prevAdds: readonly HeaderValueOptionModel[], next: HeaderMutationLevel): boolean {
  for (const a of prevAdds) {
    if (next.removes.includes(a.key)) return false;
    for (const b of next.adds) {
      // Appends commute with nothing but appends: they ignore presence and keep their order.
      if (b.key === a.key && (a.action !== 'APPEND_IF_EXISTS_OR_ADD' || b.action !== 'APPEND_IF_EXISTS_OR_ADD')) return false;
    }
  }
  return true;
}

/** Slow path: some header is named twice in one level, so decide every entry on the pre-state first. */
function applyWithDuplicates(headers: MutableHeaders, adds: readonly HeaderValueOptionModel[]): void {
  const decisions: boolean[] = new Array(adds.length);
  for (let i = 0; i < adds.length; i++) {
    const a = adds[i];
    if (a.value.length === 0 && !a.keepEmptyValue) { decisions[i] = false; continue; }
    const present = isPresent(headers[a.key]);
    decisions[i] = a.action === 'ADD_IF_ABSENT' ? !present : a.action === 'OVERWRITE_IF_EXISTS' ? present : true;
  }
  for (let i = 0; i < adds.length; i++) {
    const a = adds[i];
    if (decisions[i] && (a.action === 'OVERWRITE_IF_EXISTS' || a.action === 'OVERWRITE_IF_EXISTS_OR_ADD')) {
      setHeader(headers, a.key, a.value);
    }
  }
  for (let i = 0; i < adds.length; i++) {
    const a = adds[i];
    if (decisions[i] && (a.action === 'APPEND_IF_EXISTS_OR_ADD' || a.action === 'ADD_IF_ABSENT')) {
      appendHeader(headers, a.key, a.value);
    }
  }
}

function hasDuplicateKeys(adds: readonly HeaderValueOptionModel[]): boolean {
  for (let i = 1; i < adds.length; i++) {
    const k = adds[i].key;
    for (let j = 0; j < i; j++) if (adds[j].key === k) return true;
  }
  return false;
}

/** Own string or array values count; inherited `Object.prototype` members of plain objects do not. */
function isPresent(v: unknown): boolean {
  return typeof v === 'string' || Array.isArray(v);
}

function setHeader(headers: MutableHeaders, key: string, value: string | string[]): void {
  if (key === '__proto__') {
    Object.defineProperty(headers, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    headers[key] = value;
  }
}

function appendHeader(headers: MutableHeaders, key: string, value: string): void {
  const cur = Object.prototype.hasOwnProperty.call(headers, key) ? headers[key] : undefined;
  if (typeof cur === 'string') setHeader(headers, key, [cur, value]);
  else if (Array.isArray(cur)) setHeader(headers, key, [...cur, value]);
  else setHeader(headers, key, value);
}

function deleteHeader(headers: MutableHeaders, key: string): void {
  if (Object.prototype.hasOwnProperty.call(headers, key)) delete headers[key];
}
