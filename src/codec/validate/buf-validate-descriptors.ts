/**
 * The compiled descriptor of `buf/validate/validate.proto` (protovalidate's rule options), taken
 * from @bufbuild/protovalidate, which embeds it: no npm package ships the .proto source (see
 * notes/validation.md). `bufValidateDescriptorSet()` returns it with its dependencies as a
 * FileDescriptorSet, so a user .proto that does `import "buf/validate/validate.proto"` can be
 * compiled against it (protobufjs: load the set as the import; protoc: `--descriptor_set_in`), and
 * a descriptor set for validation can be completed when it lacks the file.
 */
import { create, toBinary, type DescFile } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { file_buf_validate_validate } from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';

/** The import path user protos use. */
export const BUF_VALIDATE_PROTO = 'buf/validate/validate.proto';

/** validate.proto and everything it imports, dependencies first (each file once). */
export function bufValidateFiles(): readonly DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.dependencies) visit(d);
    out.push(f);
  };
  visit(file_buf_validate_validate);
  return out;
}

/** The FileDescriptorProtos of `bufValidateFiles()`, dependencies first. */
export function bufValidateFileProtos(): FileDescriptorProto[] {
  return bufValidateFiles().map((f) => f.proto);
}

/**
 * A serialized google.protobuf.FileDescriptorSet holding `buf/validate/validate.proto` and its
 * dependencies (google/protobuf/descriptor, duration, timestamp, field_mask), dependencies first.
 */
export function bufValidateDescriptorSet(): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: bufValidateFileProtos() }));
}
