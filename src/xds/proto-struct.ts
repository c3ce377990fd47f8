/**
 * `google.protobuf.Struct` in proto-loader's object form ⇄ plain JSON, for node metadata on both
 * ends of ADS. protobufjs defines the well-known Struct/Value types itself with camelCase field names
 * (`stringValue`, …) even under keepCase: values are written in camelCase and read in either spelling.
 */

/**
 * Converts a decoded `google.protobuf.Struct` (proto-loader shape: `{fields: {k: Value}}`, Values
 * with a `kind` discriminator when `oneofs` is on) into plain JSON. Unknown shapes become null.
 */
export function structToJson(struct: { fields?: Record<string, unknown> } | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (struct === null || struct === undefined || struct.fields === undefined || struct.fields === null) return out;
  for (const key of Object.keys(struct.fields)) out[key] = valueToJson(struct.fields[key]);
  return out;
}

/**
 * protobufjs ships google/protobuf/struct.proto with camelCase field names (`stringValue`, …) even
 * under keepCase, so both spellings are read; values are written in camelCase.
 */
const VALUE_KINDS: readonly (readonly [string, string])[] = [
  ['stringValue', 'string_value'], ['numberValue', 'number_value'], ['boolValue', 'bool_value'],
  ['structValue', 'struct_value'], ['listValue', 'list_value'], ['nullValue', 'null_value'],
];

function valueToJson(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  for (const [camel, snake] of VALUE_KINDS) {
    const kindSet = o['kind'] === camel || o['kind'] === snake;
    const x = o[camel] ?? o[snake];
    if (!kindSet && (x === undefined || x === null)) continue;
    switch (camel) {
      case 'stringValue': return String(x);
      case 'numberValue': return Number(x);
      case 'boolValue': return Boolean(x);
      case 'structValue': return structToJson(x as { fields?: Record<string, unknown> });
      case 'listValue': return (((x as { values?: unknown[] } | null)?.values) ?? []).map(valueToJson);
      default: return null;
    }
  }
  return null;
}

/**
 * The inverse of `structToJson` for building a Node in a client: plain JSON → proto-loader Struct.
 */
export function jsonToStruct(obj: Readonly<Record<string, unknown>>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) fields[key] = jsonToValue(obj[key]);
  return { fields };
}

function jsonToValue(v: unknown): unknown {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  return { structValue: jsonToStruct(v as Record<string, unknown>) };
}
