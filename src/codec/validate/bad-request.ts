/**
 * Encodes the error details a schema-validation failure carries to the client: a google.rpc.Status
 * (google/rpc/status.proto) with code INVALID_ARGUMENT, the client-visible message, and one
 * `google.protobuf.Any` holding a google.rpc.BadRequest (google/rpc/error_details.proto) whose
 * `field_violations` list every violation. The bytes go into `grpc-status-details-bin` through
 * `InvalidArgumentError.details` (core/status.ts); the transcoder prints them as Status JSON.
 * Written with the protobuf wire writer directly: two tiny fixed messages do not need a schema.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
const INVALID_ARGUMENT = 3;

/** One `google.rpc.BadRequest.FieldViolation`. */
export interface FieldViolation {
  /** Path to the field in the request message (`address.city`, `tags[2]`, `labels["k"]`); '' for the message. */
  readonly field: string;
  readonly description: string;
}

/** google.rpc.BadRequest{field_violations} as bytes. */
export function encodeBadRequest(violations: readonly FieldViolation[]): Uint8Array {
  const w = new BinaryWriter();
  for (let i = 0; i < violations.length; i++) {
    const v = violations[i]!;
    w.tag(1, WireType.LengthDelimited).fork();
    if (v.field.length > 0) w.tag(1, WireType.LengthDelimited).string(v.field);
    if (v.description.length > 0) w.tag(2, WireType.LengthDelimited).string(v.description);
    w.join();
  }
  return w.finish();
}

/**
 * google.rpc.Status{code: INVALID_ARGUMENT, message, details: [Any(BadRequest)]} as bytes; with no
 * violations (a message that does not decode) the details list is empty.
 */
export function encodeInvalidArgumentStatus(message: string, violations: readonly FieldViolation[]): Buffer {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(INVALID_ARGUMENT);
  if (message.length > 0) w.tag(2, WireType.LengthDelimited).string(message);
  if (violations.length > 0) {
    w.tag(3, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(BAD_REQUEST_TYPE_URL);
    w.tag(2, WireType.LengthDelimited).bytes(encodeBadRequest(violations));
    w.join();
  }
  const out = w.finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
