/**
 * Compiles one level of header mutations (`request_headers_to_add`, `request_headers_to_remove`,
 * `response_headers_to_add`, `response_headers_to_remove`) of a route configuration, virtual host,
 * route or weighted cluster into `HeaderMutationsModel`. Follows Envoy's rules: names are valid
 * header tokens, lowercased; pseudo-headers and `host` may be neither added nor removed; `append`
 * (deprecated) and `append_action` are mutually exclusive. Envoy's `%COMMAND%` substitutions are not
 * supported (values with an unescaped `%` are rejected; `%%` is a literal `%`).
 */
import type { HeaderAppendAction, HeaderMutationsModel, HeaderValueOptionModel } from '../model';
import { bool, Issues, joinPath, list, msg, onlyFields, str, strList, wrapped } from './context';
import type { ProtoObject } from './proto-json';

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export const EMPTY_HEADER_MUTATIONS: HeaderMutationsModel = {
  requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [],
};

/** Validates a header name to be added/removed; returns the lowercase name or null (issue recorded). */
function modifiableName(issues: Issues, raw: string | undefined, path: string): string | null {
  const name = (raw ?? '').toLowerCase();
  if (name === '') {
    issues.add(path, 'header name must not be empty');
    return null;
  }
  if (name.startsWith(':') || name === 'host') {
    issues.add(path, `'${name}' may not be modified (pseudo-headers and host are protected)`);
    return null;
  }
  if (!TOKEN_RE.test(name)) {
    issues.add(path, `invalid header name '${raw}'`);
    return null;
  }
  return name;
}

/** Unescapes `%%`; any other `%` is Envoy's substitution syntax, which Remora rejects. */
function literalValue(issues: Issues, v: string, path: string): string | null {
  if (!v.includes('%')) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    if (v[i + 1] === '%') {
      out += '%';
      i++;
      continue;
    }
    issues.add(path, "header value substitutions (%COMMAND%) are not supported by Remora; write '%%' for a literal '%'");
    return null;
  }
  if (/[\r\n\0]/.test(out)) {
    issues.add(path, 'header value must not contain CR, LF or NUL');
    return null;
  }
  return out;
}

function compileHeaderValueOption(issues: Issues, o: ProtoObject, path: string): HeaderValueOptionModel | null {
  const before = issues.count;
  onlyFields(issues, o, path, ['header', 'append', 'append_action', 'keep_empty_value']);
  const h = msg(o, 'header');
  const hp = joinPath(path, 'header');
  if (h === undefined) {
    issues.add(hp, 'is required');
    return null;
  }
  onlyFields(issues, h, hp, ['key', 'value']);
  const key = modifiableName(issues, str(h, 'key'), joinPath(hp, 'key'));
  const value = literalValue(issues, str(h, 'value') ?? '', joinPath(hp, 'value'));
  const append = wrapped<boolean>(o, 'append');
  const appendAction = str(o, 'append_action');
  let action: HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD';
  if (append !== undefined && appendAction !== undefined) {
    issues.add(joinPath(path, 'append_action'), 'append and append_action are mutually exclusive');
  } else if (append !== undefined) {
    action = append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
  } else if (appendAction !== undefined) {
    action = appendAction as HeaderAppendAction;
  }
  if (issues.count !== before || key === null || value === null) return null;
  return { key, value, action, keepEmptyValue: bool(o, 'keep_empty_value') ?? false };
}

function compileAdds(issues: Issues, o: ProtoObject, field: string, path: string): HeaderValueOptionModel[] {
  const items = list(o, field);
  const out: HeaderValueOptionModel[] = [];
  for (let i = 0; i < items.length; i++) {
    const h = compileHeaderValueOption(issues, items[i]!, `${joinPath(path, field)}[${i}]`);
    if (h !== null) out.push(h);
  }
  return out;
}

function compileRemoves(issues: Issues, o: ProtoObject, field: string, path: string): string[] {
  const names = strList(o, field);
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const n = modifiableName(issues, names[i], `${joinPath(path, field)}[${i}]`);
    if (n !== null) out.push(n);
  }
  return out;
}

/** The four header-mutation fields every level accepts (for `onlyFields` lists). */
export const HEADER_MUTATION_FIELDS: readonly string[] = [
  'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove',
];

/** Compiles the header-mutation fields of `o` (at `path`). */
export function compileHeaderMutations(issues: Issues, o: ProtoObject, path: string): HeaderMutationsModel {
  return {
    requestHeadersToAdd: compileAdds(issues, o, 'request_headers_to_add', path),
    requestHeadersToRemove: compileRemoves(issues, o, 'request_headers_to_remove', path),
    responseHeadersToAdd: compileAdds(issues, o, 'response_headers_to_add', path),
    responseHeadersToRemove: compileRemoves(issues, o, 'response_headers_to_remove', path),
  };
}
