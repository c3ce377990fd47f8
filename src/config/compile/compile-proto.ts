/**
 * Compiles `.proto` sources into a binary `google.protobuf.FileDescriptorSet` (what `protoc
 * --include_imports -o` writes): for the control plane, so a GrpcTranscoder/GrpcValidation document
 * can name `.proto` files instead of a pre-built set, and for tests and benches that build sets
 * from `.proto` text (`compileProtoSources`). protobufjs parses the sources (no protoc);
 * this file turns its reflection tree into `FileDescriptorProto`s (one per source file, with
 * `dependency` lists, map-entry types, proto3 `optional`, reserved ranges) and keeps **every custom
 * option** (e.g. `google.api.http` on methods, `buf.validate.*` on fields, messages and oneofs) as
 * encoded extension fields. Well-known types (`google/protobuf/*.proto`) come from
 * @bufbuild/protobuf's embedded descriptors, `buf/validate/validate.proto` from
 * @bufbuild/protovalidate's, and `google/api/*.proto`, `google/rpc/*.proto` from
 * node_modules/@grpc/grpc-js-xds/deps/googleapis (an implicit last import path). The result is
 * checked by building a @bufbuild/protobuf registry from it. Errors carry the file and, for syntax
 * errors, the 1-based line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { create, createFileRegistry, toBinary, type DescFile, type DescMessage, type FileRegistry, type MessageShape } from '@bufbuild/protobuf';
import type { WireType } from '@bufbuild/protobuf/wire';
import {
  DescriptorProtoSchema, DescriptorProto_ExtensionRangeSchema, DescriptorProto_ReservedRangeSchema, EnumDescriptorProtoSchema,
  EnumDescriptorProto_EnumReservedRangeSchema, EnumOptionsSchema, EnumValueDescriptorProtoSchema, EnumValueOptionsSchema,
  FieldDescriptorProtoSchema, FieldOptionsSchema, MessageOptionsSchema, MethodDescriptorProtoSchema, MethodOptionsSchema,
  OneofDescriptorProtoSchema, OneofOptionsSchema, ServiceDescriptorProtoSchema, ServiceOptionsSchema,
  FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema, FileDescriptorSetSchema,
  file_google_protobuf_any, file_google_protobuf_api, file_google_protobuf_descriptor, file_google_protobuf_duration,
  file_google_protobuf_empty, file_google_protobuf_field_mask, file_google_protobuf_source_context, file_google_protobuf_struct,
  file_google_protobuf_timestamp, file_google_protobuf_type, file_google_protobuf_wrappers,
  type DescriptorProto, type EnumDescriptorProto, type FieldDescriptorProto, type FileDescriptorProto, type ServiceDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { file_buf_validate_validate } from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';
import * as protobufDescriptor from 'protobufjs/ext/descriptor';

/** What to compile: entry files and include directories, all absolute. */
export interface ProtoCompileInput {
  readonly protoFiles: readonly string[];
  readonly importPaths: readonly string[];
}

/** One compile problem: the file (absolute path when known), 1-based line when known, and why. */
export interface ProtoCompileError {
  readonly file: string | null;
  readonly line: number | null;
  readonly message: string;
}

export type ProtoCompileResult =
  | {
    readonly ok: true;
    /** The encoded FileDescriptorSet (dependencies first). */
    readonly descriptorSet: Buffer;
    /** A registry over the set (for service/method checks). */
    readonly registry: FileRegistry;
    /** Every source file read from disk (absolute), for change watching. */
    readonly sources: readonly string[];
  }
  | { readonly ok: false; readonly error: ProtoCompileError; readonly sources: readonly string[] };

/** The googleapis protos shipped in an npm package (never copied into the repo). */
export function googleapisDir(): string {
  return path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps', 'googleapis');
}

const EMBEDDED: ReadonlyMap<string, DescFile> = new Map([
  file_google_protobuf_any, file_google_protobuf_api, file_google_protobuf_descriptor, file_google_protobuf_duration,
  file_google_protobuf_empty, file_google_protobuf_field_mask, file_google_protobuf_source_context, file_google_protobuf_struct,
  file_google_protobuf_timestamp, file_google_protobuf_type, file_google_protobuf_wrappers, file_buf_validate_validate,
].map((f) => [f.proto.name, f] as const));

class CompileFailure extends Error {
  constructor(readonly detail: ProtoCompileError) {
    super(detail.message);
  }
}

interface SourceFile {
  /** Import name (`greeter.proto`, `google/api/http.proto`). */
  readonly name: string;
  readonly abs: string;
  readonly pkg: string;
  readonly syntax: 'proto2' | 'proto3';
  readonly imports: readonly string[];
  readonly weakImports: readonly string[];
}

/**
 * Compiles `input` (reading with `readFile`, default `fs.readFileSync`). Synchronous; never throws.
 * Each entry file is named by its path relative to the first import path containing it (its own
 * directory is an implicit import path, tried after `importPaths`).
 */
export function compileProtoFiles(input: ProtoCompileInput, readFile: (abs: string) => string = readUtf8): ProtoCompileResult {
  const sources: string[] = [];
  try {
    const includes = [...input.importPaths, ...input.protoFiles.map((f) => path.dirname(f)), googleapisDir()];
    const root = new protobuf.Root();
    const parsed = new Map<string, SourceFile | DescFile>();
    const order: string[] = [];
    const load = (name: string, abs: string | null, from: string | null): void => {
      if (parsed.has(name)) return;
      const embedded = EMBEDDED.get(name);
      if (embedded !== undefined) {
        parsed.set(name, embedded);
        for (const d of embedded.dependencies) load(d.proto.name, null, name);
        addEmbeddedToRoot(root, embedded);
        order.push(name);
        return;
      }
      const file = abs ?? findImport(includes, name);
      if (file === null) throw new CompileFailure({ file: from, line: null, message: `import "${name}" not found (import paths: ${includes.join(', ')})` });
      sources.push(file);
      let text: string;
      try {
        text = readFile(file);
      } catch (e) {
        throw new CompileFailure({ file, line: null, message: `cannot read: ${(e as Error).message}` });
      }
      if (/^\s*edition\s*=/m.test(text)) throw new CompileFailure({ file, line: null, message: 'protobuf editions are not supported; use syntax = "proto3" or "proto2"' });
      const syntax = /^\s*syntax\s*=\s*["']proto3["']/m.test(text) ? 'proto3' : 'proto2';
      let res: protobuf.IParserResult;
      try {
        (protobuf.parse as unknown as { filename: string | null }).filename = name;
        res = protobuf.parse(text, root, { keepCase: true });
      } catch (e) {
        throw new CompileFailure(parseError(file, (e as Error).message));
      } finally {
        (protobuf.parse as unknown as { filename: string | null }).filename = null;
      }
      const sf: SourceFile = { name, abs: file, pkg: res.package ?? '', syntax, imports: res.imports ?? [], weakImports: res.weakImports ?? [] };
      parsed.set(name, sf);
      for (const imp of [...sf.imports, ...sf.weakImports]) load(imp, null, file);
      order.push(name);
    };
    for (const f of input.protoFiles) load(entryName(includes, f), f, null);
    try {
      root.resolveAll();
    } catch (e) {
      throw new CompileFailure({ file: null, line: null, message: (e as Error).message });
    }
    const byFile = collectByFile(root);
    const protos: FileDescriptorProto[] = [];
    for (const name of order) {
      const f = parsed.get(name)!;
      if ('kind' in f) protos.push(f.proto);
      else protos.push(buildFile(f, byFile.get(f.name) ?? EMPTY_CONTENT));
    }
    const set = create(FileDescriptorSetSchema, { file: protos });
    let registry: FileRegistry;
    try {
      registry = createFileRegistry(set);
    } catch (e) {
      throw new CompileFailure({ file: null, line: null, message: `invalid descriptors: ${(e as Error).message}` });
    }
    return { ok: true, descriptorSet: Buffer.from(toBinary(FileDescriptorSetSchema, set)), registry, sources };
  } catch (e) {
    if (e instanceof CompileFailure) return { ok: false, error: e.detail, sources };
    return { ok: false, error: { file: null, line: null, message: (e as Error).message }, sources };
  }
}

function readUtf8(abs: string): string {
  return fs.readFileSync(abs, 'utf8');
}

function findImport(includes: readonly string[], name: string): string | null {
  for (const dir of includes) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function entryName(includes: readonly string[], abs: string): string {
  for (const dir of includes) {
    const rel = path.relative(dir, abs);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel.split(path.sep).join('/');
  }
  return path.basename(abs);
}

/** protobufjs: `illegal token 'x' (greeter.proto, line 12)` → line 12 of `file`. */
function parseError(file: string, message: string): ProtoCompileError {
  const m = /^(.*?) \((?:[^,()]*, )?line (\d+)\)$/.exec(message);
  if (m === null) return { file, line: null, message };
  return { file, line: Number(m[2]), message: m[1]! };
}

/** Makes an embedded file's types resolvable by protobufjs (once per root). */
function addEmbeddedToRoot(root: protobuf.Root, file: DescFile): void {
  if (file.proto.name === 'google/protobuf/descriptor.proto') {
    // protobufjs ships this source; parse it so MethodOptions & co. can be extended.
    const src = fs.readFileSync(path.join(path.dirname(require.resolve('protobufjs/package.json')), 'google', 'protobuf', 'descriptor.proto'), 'utf8');
    (protobuf.parse as unknown as { filename: string | null }).filename = file.proto.name;
    try {
      protobuf.parse(src, root, { keepCase: true });
    } finally {
      (protobuf.parse as unknown as { filename: string | null }).filename = null;
    }
    return;
  }
  const common = protobuf.common.get(file.proto.name);
  if (common !== null && common !== undefined) {
    root.addJSON((common as { nested: Record<string, protobuf.AnyNestedObject> }).nested);
    return;
  }
  // Anything else embedded (buf/validate): through protobufjs's descriptor reader, this file only.
  const withDeps: FileDescriptorProto[] = [];
  const add = (f: DescFile): void => {
    if (withDeps.includes(f.proto)) return;
    for (const d of f.dependencies) add(d);
    withDeps.push(f.proto);
  };
  add(file);
  const bytes = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: withDeps }));
  const decoded = protobufDescriptor.FileDescriptorSet.decode(bytes);
  const other = (protobuf.Root as unknown as { fromDescriptor(d: unknown): protobuf.Root }).fromDescriptor(decoded);
  const pkg = file.proto.package.split('.')[0]!;
  const ns = other.lookup(pkg);
  if (ns !== null) root.addJSON({ [pkg]: ns.toJSON() as protobuf.AnyNestedObject });
}

interface FileContent {
  readonly types: protobuf.Type[];
  readonly enums: protobuf.Enum[];
  readonly services: protobuf.Service[];
  readonly extensions: protobuf.Field[];
}

const EMPTY_CONTENT: FileContent = { types: [], enums: [], services: [], extensions: [] };

/** Top-level declarations per file name (namespaces are walked through). */
function collectByFile(root: protobuf.Root): Map<string, FileContent> {
  const out = new Map<string, { types: protobuf.Type[]; enums: protobuf.Enum[]; services: protobuf.Service[]; extensions: protobuf.Field[] }>();
  const bucket = (name: string | null) => {
    const key = name ?? '';
    let b = out.get(key);
    if (b === undefined) out.set(key, b = { types: [], enums: [], services: [], extensions: [] });
    return b;
  };
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) bucket(obj.filename).types.push(obj);
      else if (obj instanceof protobuf.Enum) bucket(obj.filename).enums.push(obj);
      else if (obj instanceof protobuf.Service) bucket(obj.filename).services.push(obj);
      else if (obj instanceof protobuf.Field && obj.extend !== undefined) bucket(obj.filename).extensions.push(obj);
      else if (obj instanceof protobuf.Namespace) walk(obj);
    }
  };
  walk(root);
  return out;
}

const SCALAR: Readonly<Record<string, FieldDescriptorProto_Type>> = {
  double: FieldDescriptorProto_Type.DOUBLE, float: FieldDescriptorProto_Type.FLOAT, int64: FieldDescriptorProto_Type.INT64,
  uint64: FieldDescriptorProto_Type.UINT64, int32: FieldDescriptorProto_Type.INT32, fixed64: FieldDescriptorProto_Type.FIXED64,
  fixed32: FieldDescriptorProto_Type.FIXED32, bool: FieldDescriptorProto_Type.BOOL, string: FieldDescriptorProto_Type.STRING,
  bytes: FieldDescriptorProto_Type.BYTES, uint32: FieldDescriptorProto_Type.UINT32, sfixed32: FieldDescriptorProto_Type.SFIXED32,
  sfixed64: FieldDescriptorProto_Type.SFIXED64, sint32: FieldDescriptorProto_Type.SINT32, sint64: FieldDescriptorProto_Type.SINT64,
};

function buildFile(f: SourceFile, c: FileContent): FileDescriptorProto {
  const proto = create(FileDescriptorProtoSchema, {
    name: f.name,
    package: f.pkg,
    dependency: [...f.imports, ...f.weakImports],
    weakDependency: f.weakImports.map((_, i) => f.imports.length + i),
    syntax: f.syntax === 'proto3' ? 'proto3' : '',
  });
  for (const t of c.types) proto.messageType.push(buildMessage(t, f.syntax));
  for (const e of c.enums) proto.enumType.push(buildEnum(e));
  for (const s of c.services) proto.service.push(buildService(s));
  for (const x of c.extensions) proto.extension.push(buildField(x, f.syntax, null));
  return proto;
}

function buildMessage(t: protobuf.Type, syntax: 'proto2' | 'proto3'): DescriptorProto {
  const msg = create(DescriptorProtoSchema, { name: t.name });
  // Real oneofs first, then proto3-optional synthetic ones (protoc's order).
  const oneofs = t.oneofsArray.filter((o) => !isSynthetic(o)).concat(t.oneofsArray.filter(isSynthetic));
  for (const o of oneofs) {
    msg.oneofDecl.push(create(OneofDescriptorProtoSchema, { name: o.name, options: optionsMessage(OneofOptionsSchema, o) }));
  }
  for (const field of t.fieldsArray) {
    const fd = buildField(field, syntax, oneofs);
    if (field instanceof protobuf.MapField) {
      const entryName = mapEntryName(field.name);
      const entry = create(DescriptorProtoSchema, { name: entryName, options: create(MessageOptionsSchema, { mapEntry: true }) });
      entry.field.push(scalarLike('key', 1, field.keyType, null), scalarLike('value', 2, field.type, field.resolvedType));
      msg.nestedType.push(entry);
      fd.label = FieldDescriptorProto_Label.REPEATED;
      fd.type = FieldDescriptorProto_Type.MESSAGE;
      fd.typeName = `${t.fullName}.${entryName}`;
    }
    msg.field.push(fd);
  }
  for (const n of t.nestedArray) {
    if (n instanceof protobuf.Type) msg.nestedType.push(buildMessage(n, syntax));
    else if (n instanceof protobuf.Enum) msg.enumType.push(buildEnum(n));
    else if (n instanceof protobuf.Field && n.extend !== undefined) msg.extension.push(buildField(n, syntax, null));
  }
  for (const r of t.reserved ?? []) {
    if (typeof r === 'string') msg.reservedName.push(r);
    else msg.reservedRange.push(create(DescriptorProto_ReservedRangeSchema, { start: r[0]!, end: r[1]! + 1 }));
  }
  for (const r of t.extensions ?? []) {
    msg.extensionRange.push(create(DescriptorProto_ExtensionRangeSchema, { start: r[0]!, end: Math.min(r[1]!, 0x1fffffff) + 1 }));
  }
  msg.options = optionsMessage(MessageOptionsSchema, t);
  return msg;
}

function isSynthetic(o: protobuf.OneOf): boolean {
  return o.fieldsArray.length === 1 && o.fieldsArray[0]!.options?.['proto3_optional'] === true;
}

/** protoc's ToJsonName: drop underscores, upper-casing the letter after each. */
function toJsonName(name: string): string {
  let out = '';
  let upper = false;
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

/** protoc's map entry name: `foo_bar` → `FooBarEntry`. */
function mapEntryName(field: string): string {
  return field.split('_').map((p) => (p === '' ? '' : p[0]!.toUpperCase() + p.slice(1))).join('') + 'Entry';
}

function scalarLike(name: string, no: number, type: string, resolved: protobuf.Type | protobuf.Enum | null): FieldDescriptorProto {
  const fd = create(FieldDescriptorProtoSchema, { name, number: no, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: name });
  setType(fd, type, resolved, false);
  return fd;
}

function setType(fd: FieldDescriptorProto, type: string, resolved: protobuf.Type | protobuf.Enum | null, group: boolean): void {
  const scalar = SCALAR[type];
  if (scalar !== undefined && resolved === null) {
    fd.type = scalar;
    return;
  }
  if (resolved instanceof protobuf.Enum) fd.type = FieldDescriptorProto_Type.ENUM;
  else fd.type = group ? FieldDescriptorProto_Type.GROUP : FieldDescriptorProto_Type.MESSAGE;
  fd.typeName = resolved === null ? type : resolved.fullName;
}

function buildField(field: protobuf.Field, syntax: 'proto2' | 'proto3', oneofs: readonly protobuf.OneOf[] | null): FieldDescriptorProto {
  const fd = create(FieldDescriptorProtoSchema, { name: field.name, number: field.id });
  fd.label = field.repeated ? FieldDescriptorProto_Label.REPEATED : field.required ? FieldDescriptorProto_Label.REQUIRED : FieldDescriptorProto_Label.OPTIONAL;
  const group = field.resolvedType instanceof protobuf.Type && (field.resolvedType as protobuf.Type & { group?: boolean }).group === true;
  setType(fd, field.type, field.resolvedType, group);
  if (field.extend !== undefined) {
    const target = field.parent?.lookup(field.extend);
    fd.extendee = target !== null && target !== undefined ? target.fullName : field.extend;
  }
  const opts = field.options ?? {};
  // protoc always records json_name (explicit, or its ToJsonName of the field name).
  fd.jsonName = typeof opts['json_name'] === 'string' ? opts['json_name'] as string : toJsonName(field.name);
  if (opts['default'] !== undefined && syntax === 'proto2') fd.defaultValue = String(opts['default']);
  if (oneofs !== null && field.partOf !== null && field.partOf !== undefined) {
    fd.oneofIndex = oneofs.indexOf(field.partOf);
    if (opts['proto3_optional'] === true) fd.proto3Optional = true;
  }
  let fo = optionsMessage(FieldOptionsSchema, field);
  if (opts['packed'] !== undefined || opts['deprecated'] === true) {
    fo = fo ?? create(FieldOptionsSchema);
    if (opts['packed'] !== undefined) fo.packed = opts['packed'] === true;
    if (opts['deprecated'] === true) fo.deprecated = true;
  }
  fd.options = fo;
  return fd;
}

function buildEnum(e: protobuf.Enum): EnumDescriptorProto {
  const ed = create(EnumDescriptorProtoSchema, { name: e.name });
  for (const [name, number] of Object.entries(e.values)) {
    ed.value.push(create(EnumValueDescriptorProtoSchema, { name, number, options: optionsMessage(EnumValueOptionsSchema, e, name) }));
  }
  let eo = optionsMessage(EnumOptionsSchema, e);
  if (e.options?.['allow_alias'] === true) {
    eo = eo ?? create(EnumOptionsSchema);
    eo.allowAlias = true;
  }
  ed.options = eo;
  for (const r of e.reserved ?? []) {
    if (typeof r === 'string') ed.reservedName.push(r);
    else ed.reservedRange.push(create(EnumDescriptorProto_EnumReservedRangeSchema, { start: r[0]!, end: r[1]! }));
  }
  return ed;
}

function buildService(s: protobuf.Service): ServiceDescriptorProto {
  const sd = create(ServiceDescriptorProtoSchema, { name: s.name, options: optionsMessage(ServiceOptionsSchema, s) });
  for (const m of s.methodsArray) {
    sd.method.push(create(MethodDescriptorProtoSchema, {
      name: m.name,
      inputType: m.resolvedRequestType!.fullName,
      outputType: m.resolvedResponseType!.fullName,
      clientStreaming: m.requestStream === true,
      serverStreaming: m.responseStream === true,
      options: optionsMessage(MethodOptionsSchema, m),
    }));
  }
  return sd;
}

/**
 * The `*Options` message of `obj` carrying its custom options (`(ext)` and `(ext).sub.path` forms)
 * as encoded extension fields, or undefined when it has none. Standard options are set by callers.
 * `enumValue`: the options of that value of the enum `obj` instead.
 */
function optionsMessage<D extends DescMessage>(schema: D, obj: protobuf.ReflectionObject, enumValue?: string): MessageShape<D> | undefined {
  const parsed = enumValue === undefined
    ? (obj as { parsedOptions?: Record<string, unknown>[] }).parsedOptions ?? []
    : toParsedList((obj as protobuf.Enum).valuesOptions?.[enumValue]);
  const values = new Map<string, { field: protobuf.Field; value: unknown }>();
  for (const entry of parsed) {
    for (const [key, value] of Object.entries(entry)) {
      const m = /^\(([^)]+)\)(?:\.(.+))?$/.exec(key);
      if (m === null) continue;
      const field = resolveExtension(obj, m[1]!);
      if (field === null) throw new CompileFailure({ file: null, line: null, message: `${obj.fullName.slice(1)}: unknown option (${m[1]})` });
      const nested = m[2] === undefined ? value : nestPath(m[2], value);
      const prev = values.get(field.fullName);
      values.set(field.fullName, { field, value: prev === undefined ? nested : mergeOption(prev.value, nested) });
    }
  }
  if (values.size === 0) return undefined;
  const unknown: { no: number; wireType: WireType; data: Uint8Array }[] = [];
  for (const { field, value } of values.values()) encodeExtension(field, value, unknown, obj);
  const msg = create(schema) as MessageShape<D> & { $unknown?: unknown };
  msg.$unknown = unknown;
  return msg;
}

function toParsedList(o: Record<string, unknown> | undefined): Record<string, unknown>[] {
  return o === undefined ? [] : [o];
}

function resolveExtension(obj: protobuf.ReflectionObject, name: string): protobuf.Field | null {
  const scope = obj instanceof protobuf.Namespace ? obj : obj.parent;
  const found = (scope ?? obj.root).lookup(name) ?? obj.root.lookup(name);
  if (found instanceof protobuf.Field) return found;
  // protobufjs registers extensions at the root as `.pkg.name` sister fields.
  const sister = obj.root.lookup(`.${name.replace(/^\./, '')}`);
  return sister instanceof protobuf.Field ? sister : null;
}

function nestPath(p: string, value: unknown): unknown {
  const parts = p.split('.');
  let out = value;
  for (let i = parts.length - 1; i >= 0; i--) out = { [parts[i]!]: out };
  return out;
}

function mergeOption(a: unknown, b: unknown): unknown {
  if (isObj(a) && isObj(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? mergeOption(out[k], v) : v;
    return out;
  }
  if (Array.isArray(a)) return [...a, ...(Array.isArray(b) ? b : [b])];
  return b;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Wraps single values of repeated fields into arrays, recursively (protobufjs option objects). */
function normalize(type: protobuf.Type, v: unknown): unknown {
  if (!isObj(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const f = type.fields[k];
    if (f === undefined) {
      out[k] = val;
      continue;
    }
    const list = f.repeated && !Array.isArray(val) ? [val] : val;
    const sub = f.resolvedType instanceof protobuf.Type ? f.resolvedType : null;
    out[k] = sub === null ? list : Array.isArray(list) ? list.map((x) => normalize(sub, x)) : normalize(sub, list);
  }
  return out;
}

function encodeExtension(field: protobuf.Field, value: unknown, out: { no: number; wireType: WireType; data: Uint8Array }[], owner: protobuf.ReflectionObject): void {
  const items = field.repeated && Array.isArray(value) ? value : [value];
  for (const item of items) {
    const w = protobuf.Writer.create();
    let wireType: WireType;
    if (field.resolvedType instanceof protobuf.Type) {
      const t = field.resolvedType;
      const msg = t.fromObject(normalize(t, item) as Record<string, unknown>);
      const err = t.verify(msg);
      if (err !== null) throw new CompileFailure({ file: null, line: null, message: `${owner.fullName}: option (${field.fullName.slice(1)}): ${err}` });
      w.bytes(t.encode(msg).finish());
      wireType = 2;
    } else if (field.resolvedType instanceof protobuf.Enum) {
      const n = typeof item === 'number' ? item : field.resolvedType.values[String(item)];
      if (n === undefined) throw new CompileFailure({ file: null, line: null, message: `${owner.fullName}: option (${field.fullName.slice(1)}): unknown enum value ${String(item)}` });
      w.int32(n);
      wireType = 0;
    } else {
      wireType = ((protobuf.types.basic as Record<string, number>)[field.type] ?? 2) as WireType;
      (w as unknown as Record<string, (v: unknown) => void>)[field.type]!.call(w, item);
    }
    out.push({ no: field.id, wireType, data: w.finish() });
  }
}

/** A `.proto` given as text: its import name and content. */
export interface ProtoSource {
  readonly name: string;
  readonly content: string;
}

/** A failed `compileProtoSources`: the message reads `<file>[:<line>]: <why>`. */
export class ProtoCompileFailure extends Error {
  constructor(readonly detail: ProtoCompileError) {
    super(`${detail.file === null ? '' : `${detail.file}${detail.line === null ? '' : `:${detail.line}`}: `}${detail.message}`);
    this.name = 'ProtoCompileFailure';
  }
}

const VIRTUAL_ROOT = path.join(path.sep, '__remora_proto_sources__');

/**
 * Compiles `.proto` texts (imports resolved among them, then `importPaths`, the embedded
 * well-known and buf/validate files, and googleapis) into FileDescriptorSet bytes. Throws
 * ProtoCompileFailure. For tests, benches and tools; config-time only.
 */
export function compileProtoSources(sources: readonly ProtoSource[], importPaths: readonly string[] = []): Buffer {
  const byPath = new Map(sources.map((s) => [path.join(VIRTUAL_ROOT, s.name), s.content] as const));
  const result = compileProtoFiles(
    { protoFiles: sources.map((s) => path.join(VIRTUAL_ROOT, s.name)), importPaths: [VIRTUAL_ROOT, ...importPaths] },
    (abs) => byPath.get(abs) ?? fs.readFileSync(abs, 'utf8'),
  );
  if (!result.ok) {
    const e = result.error;
    throw new ProtoCompileFailure({ ...e, file: e.file === null ? null : e.file.startsWith(VIRTUAL_ROOT) ? path.relative(VIRTUAL_ROOT, e.file) : e.file });
  }
  return result.descriptorSet;
}

/**
 * Compiles the googleapis files named by import path (`google/rpc/status.proto`, ...) into
 * FileDescriptorSet bytes. Throws ProtoCompileFailure.
 */
export function compileGoogleapis(names: readonly string[]): Buffer {
  const dir = googleapisDir();
  const result = compileProtoFiles({ protoFiles: names.map((n) => path.join(dir, n)), importPaths: [dir] });
  if (!result.ok) throw new ProtoCompileFailure(result.error);
  return result.descriptorSet;
}
