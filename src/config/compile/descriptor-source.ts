/**
 * The FileDescriptorSet of a descriptor-driven HTTP filter (the gRPC-JSON transcoder, schema
 * validation): Envoy's `proto_descriptor` (a file, read here at config time) or
 * `proto_descriptor_bin` (inline bytes), exactly one of them. Issues carry the field path.
 */
import { Issues, joinPath, str } from './context';
import type { ProtoObject } from './proto-json';

export interface DescriptorSource {
  readonly bytes: Uint8Array;
  /** The field the bytes came from (for errors about their content). */
  readonly path: string;
}

/** Reads the set named by `o` (at `path`); null with issues recorded when absent, doubled or unreadable. */
export function compileDescriptorSource(issues: Issues, o: ProtoObject, path: string, readFile: (file: string) => Uint8Array): DescriptorSource | null {
  const file = str(o, 'proto_descriptor');
  const bin = o['proto_descriptor_bin'];
  const hasFile = file !== undefined && file !== '';
  const hasBin = Buffer.isBuffer(bin) && bin.length > 0;
  if (hasFile && hasBin) {
    issues.add(path, 'only one of proto_descriptor and proto_descriptor_bin may be set');
    return null;
  }
  if (hasFile) {
    const fp = joinPath(path, 'proto_descriptor');
    try {
      return { bytes: readFile(file), path: fp };
    } catch (e) {
      issues.add(fp, `cannot read file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return null;
    }
  }
  if (hasBin) return { bytes: bin as Buffer, path: joinPath(path, 'proto_descriptor_bin') };
  issues.add(path, 'one of proto_descriptor (a FileDescriptorSet file) or proto_descriptor_bin is required');
  return null;
}
