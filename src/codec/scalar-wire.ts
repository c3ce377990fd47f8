/**
 * The protobuf wire type each scalar field type is written with (protobuf encoding guide, "Message
 * Structure"), shared by the compiled codecs: the transcoder's request encoder and reply printer and
 * the validation fast path's wire reader.
 */
import { ScalarType } from '@bufbuild/protobuf';

/** Wire types used by scalar fields (groups are not). */
export const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

/** The wire type of a non-packed scalar of type `t`. */
export function wireOf(t: ScalarType): Wire {
  switch (t) {
    case ScalarType.DOUBLE: case ScalarType.FIXED64: case ScalarType.SFIXED64: return Wire.Fixed64;
    case ScalarType.FLOAT: case ScalarType.FIXED32: case ScalarType.SFIXED32: return Wire.Fixed32;
    case ScalarType.STRING: case ScalarType.BYTES: return Wire.LengthDelimited;
    default: return Wire.Varint;
  }
}
