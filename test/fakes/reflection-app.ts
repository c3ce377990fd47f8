/**
 * Server reflection for test apps that keeps custom options (`google.api.http`, `buf.validate.*`):
 * `addReflectionKeepingOptions(server, packageDefinition, descriptorSet)` adds @grpc/reflection's
 * ReflectionService (v1 and v1alpha) serving the set's files byte for byte.
 *
 * Why: @grpc/reflection 1.0.4 serves what proto-loader's package definition holds, and both lose
 * information. proto-loader regenerates `fileDescriptorProtos` from protobufjs (without custom
 * options, without dependency lists, with relative type names that descriptor registries such as
 * @bufbuild/protobuf's reject), and ReflectionService decodes them with protobufjs's descriptor
 * types, which drop unknown fields (the options' extensions), before re-encoding. So this helper
 * (1) puts the set's real per-file FileDescriptorProtos into the package definition (the service
 * indexes symbols from them) and (2) after constructing the service, points its precomputed file
 * encodings back at those original bytes (a private field of the pinned version). Reflection
 * servers in Go, Java or C++ serve the compiled files as they are and need nothing like this.
 */
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

type Impl = { fileEncodings: Map<{ name: string }, Uint8Array>; addToServer(server: grpc.Server): void };

/** Adds reflection for `def` (built from `descriptorSet`) to `server`; `versions` picks v1, v1alpha or both. */
export function addReflectionKeepingOptions(
  server: grpc.Server, def: PackageDefinition, descriptorSet: Uint8Array, versions: ReadonlyArray<'v1' | 'v1alpha'> = ['v1', 'v1alpha'],
): void {
  const files = fromBinary(FileDescriptorSetSchema, descriptorSet).file;
  const bytesByName = new Map<string, Uint8Array>(files.map((f) => [f.name, toBinary(FileDescriptorProtoSchema, f)]));
  const original = [...bytesByName.values()].map((b) => Buffer.from(b));
  const patched: PackageDefinition = {};
  for (const k of Object.keys(def)) {
    const entry = def[k] as unknown as Record<string, unknown>;
    patched[k] = (Array.isArray(entry['fileDescriptorProtos']) ? { ...entry, fileDescriptorProtos: original } : entry) as PackageDefinition[string];
  }
  const reflection = new ReflectionService(patched) as unknown as { v1: Impl; v1Alpha: Impl };
  for (const v of versions) {
    const impl = v === 'v1' ? reflection.v1 : reflection.v1Alpha;
    for (const file of impl.fileEncodings.keys()) {
      const b = bytesByName.get(file.name);
      if (b !== undefined) impl.fileEncodings.set(file, b);
    }
    impl.addToServer(server);
  }
}
