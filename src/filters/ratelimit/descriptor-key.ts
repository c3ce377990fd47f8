/**
 * Builds one descriptor's Redis base key for a request, or null when the descriptor does not apply
 * (Envoy's rate_limits action semantics: a missing header drops the descriptor unless
 * `skip_if_absent`, an unmatched `header_value_match` drops it). The key is
 * `<prefix><domain>(␟<key>=<value>)*␟<unit>` with ␟ = U+001F: header values cannot contain control
 * characters and descriptor keys cannot contain '=', so two different descriptors never share a key.
 * The only allocation is the key string itself.
 */
import type { RequestHeaders } from '../stream-context';
import { KEY_SEPARATOR, type DescriptorConfig, type HeaderMatcherConfig } from './config';

/** What the key builder reads from a request (StreamContext satisfies it). */
export interface DescriptorRequest {
  readonly headers: RequestHeaders;
  readonly remoteAddress: string;
}

/** The first value of header `name` (lowercase), or undefined. */
function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v[0];
}

function matches(headers: RequestHeaders, m: HeaderMatcherConfig): boolean {
  const v = headerValue(headers, m.name);
  switch (m.kind) {
    case 'exact': return v !== undefined && v === m.value;
    case 'prefix': return v !== undefined && v.startsWith(m.value);
    case 'present': return (v !== undefined) === m.present;
  }
}

/** The descriptor's base key under `base` (`prefix + domain`), or null when it is not generated. */
export function descriptorKey(d: DescriptorConfig, req: DescriptorRequest, base: string): string | null {
  let key = base;
  const entries = d.entries;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    switch (e.kind) {
      case 'request_headers': {
        const v = headerValue(req.headers, e.header);
        if (v === undefined) {
          if (e.skipIfAbsent) continue;
          return null;
        }
        key += KEY_SEPARATOR + e.key + '=' + v;
        break;
      }
      case 'remote_address':
        key += KEY_SEPARATOR + e.key + '=' + req.remoteAddress;
        break;
      case 'generic_key':
        key += KEY_SEPARATOR + e.key + '=' + e.value;
        break;
      case 'header_value_match': {
        const hs = e.headers;
        for (let j = 0; j < hs.length; j++) if (!matches(req.headers, hs[j])) return null;
        key += KEY_SEPARATOR + e.key + '=' + e.value;
        break;
      }
    }
  }
  // Every entry skipped (skip_if_absent): an empty descriptor is not generated (as Envoy).
  return key.length === base.length ? null : key + d.keySuffix;
}
