/**
 * A fast path for `bytes` fields in JSON request bodies. ProtoJSON carries bytes as base64, and
 * @bufbuild/protobuf decodes base64 in a JavaScript loop, which is most of the transcoding cost of
 * a large binary payload. For the singular `bytes` fields of a request type (and of its singular,
 * non-well-known message fields, recursively: a plan built once per type at config time), the
 * binding takes the base64 strings out of the JSON before `fromJson`, decodes them with Node's
 * native decoder (standard or URL-safe alphabet, padding optional, as ProtoJSON accepts), and sets
 * them on the decoded message. A value that is not a plain base64 string (whitespace, `null`, a
 * wrong type) is left in place for `fromJson` to accept or reject exactly as before.
 */
import type { DescField, DescMessage, JsonObject } from '@bufbuild/protobuf';
import { ScalarType } from '@bufbuild/protobuf';

/** Recursion bound of a plan (message types nest; recursive types stop here). */
const MAX_DEPTH = 8;

/** Where bytes fields are in one message type. */
export interface BytesPlan {
  readonly bytes: readonly PlannedField[];
  readonly messages: readonly PlannedMessage[];
}

interface PlannedField {
  readonly jsonName: string;
  readonly protoName: string;
  readonly localName: string;
}

interface PlannedMessage extends PlannedField {
  readonly plan: BytesPlan;
}

/** The plan of `message`; null when it (and its nested singular messages) has no singular bytes field. */
export function bytesPlan(message: DescMessage, depth = 0): BytesPlan | null {
  if (depth > MAX_DEPTH || message.typeName.startsWith('google.protobuf.')) return null;
  const bytes: PlannedField[] = [];
  const messages: PlannedMessage[] = [];
  for (const f of message.fields) {
    if (f.oneof !== undefined) continue;
    if (f.fieldKind === 'scalar' && f.scalar === ScalarType.BYTES) bytes.push(names(f));
    else if (f.fieldKind === 'message') {
      const plan = bytesPlan(f.message, depth + 1);
      if (plan !== null) messages.push({ ...names(f), plan });
    }
  }
  return bytes.length === 0 && messages.length === 0 ? null : { bytes, messages };
}

function names(f: DescField): PlannedField {
  return { jsonName: f.jsonName, protoName: f.name, localName: f.localName };
}

/**
 * `s` decoded when it is plain base64 (standard or URL-safe alphabet, optional padding, no
 * whitespace), else null. Node's decoder skips characters outside the alphabet, so the decoded
 * length is checked against the length `s` implies: one or more skipped characters always change
 * it (a length ≡ 1 mod 4 is never valid). A null leaves the value to fromJson.
 */
function decodeBase64(s: string): Uint8Array | null {
  let n = s.length;
  let pad = 0;
  while (pad < 2 && n > 0 && s.charCodeAt(n - 1) === 0x3d /* = */) {
    n--;
    pad++;
  }
  // Padding only where it completes the last group; anything else is fromJson's to judge.
  if (n % 4 === 1 || (pad > 0 && (n + pad) % 4 !== 0)) return null;
  const b = Buffer.from(s, 'base64');
  if (b.length !== Math.floor((n * 3) / 4)) return null;
  // A plain Uint8Array view (no copy), the type fromJson itself produces.
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Decoded values taken out of a JSON object, to put on the decoded message. */
export interface TakenBytes {
  readonly bytes: { readonly localName: string; readonly value: Uint8Array }[];
  readonly messages: { readonly localName: string; readonly taken: TakenBytes }[];
}

/** Removes the plan's base64 strings from `json` (mutated) and returns them decoded; null when none. */
export function takeBytes(plan: BytesPlan, json: JsonObject): TakenBytes | null {
  let out: TakenBytes | null = null;
  for (const f of plan.bytes) {
    const key = json[f.jsonName] !== undefined ? f.jsonName : json[f.protoName] !== undefined ? f.protoName : null;
    if (key === null) continue;
    const v = json[key];
    const value = typeof v === 'string' ? decodeBase64(v) : null;
    if (value === null) continue;
    delete json[key];
    out ??= { bytes: [], messages: [] };
    out.bytes.push({ localName: f.localName, value });
  }
  for (const m of plan.messages) {
    const v = json[m.jsonName] ?? json[m.protoName];
    if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v)) continue;
    const taken = takeBytes(m.plan, v);
    if (taken === null) continue;
    out ??= { bytes: [], messages: [] };
    out.messages.push({ localName: m.localName, taken });
  }
  return out;
}

/** Sets taken values on the message `fromJson` produced (its sub-messages exist: their JSON objects were present). */
export function putBytes(message: Record<string, unknown>, taken: TakenBytes): void {
  for (const b of taken.bytes) message[b.localName] = b.value;
  for (const m of taken.messages) {
    const sub = message[m.localName];
    if (sub !== undefined && sub !== null) putBytes(sub as Record<string, unknown>, m.taken);
  }
}
