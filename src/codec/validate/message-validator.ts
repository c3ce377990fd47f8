/**
 * Compiles, once per config update, the protovalidate (buf.validate) validators for the request
 * messages of selected gRPC methods, and checks one serialized request message against them at
 * request time. Config time: a FileDescriptorSet becomes a @bufbuild/protobuf registry (completed
 * with buf/validate/validate.proto when the set lacks it), each selected method resolves to its
 * input message schema, and one validator per table is created and warmed on every input type so
 * rule plans and CEL programs are compiled before the first request (a rule that does not compile is
 * a config error); each input type also gets a compiled fast validator (fast-validator.ts) when its
 * rules are within the compiled subset. Request time: `MethodValidator.check(bytes)` first asks the
 * fast validator, which settles certainly-valid messages without decoding them into objects; any
 * other message takes the reference path, which decodes the message (bytes that do not
 * decode are rejected as `decode`), validates it, and returns null (valid: no allocation beyond the
 * decoded message) or a `MessageRejection` with a client-visible message and the encoded
 * google.rpc.Status{BadRequest} details listing every violation.
 * https://github.com/bufbuild/protovalidate — rules and violation ids.
 */
import { create, createFileRegistry, fromBinary, type DescMessage, type DescMethod, type FileRegistry } from '@bufbuild/protobuf';
import { pathToString } from '@bufbuild/protobuf/reflect';
import { FileDescriptorSetSchema, type FileDescriptorProto, type FileDescriptorSet } from '@bufbuild/protobuf/wkt';
import { createValidator, type Validator, type Violation } from '@bufbuild/protovalidate';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import { encodeInvalidArgumentStatus, type FieldViolation } from './bad-request';
import { bufValidateFileProtos } from './buf-validate-descriptors';
import { compileFastValidator, type FastValidator } from './fast-validator';

/** Why a message was refused: it does not decode, it violates a rule, or a rule failed to evaluate. */
export type RejectionReason = 'decode' | 'constraint' | 'error';

/** A refused message: what the client is told (`message`, `details` for grpc-status-details-bin). */
export class MessageRejection {
  constructor(
    readonly reason: RejectionReason,
    readonly message: string,
    /** An encoded google.rpc.Status (with a BadRequest for constraint violations). */
    readonly details: Buffer,
    /** The violations (empty unless reason is 'constraint'). */
    readonly violations: readonly FieldViolation[],
  ) {}
}

/** Which methods to validate: every method of `services`, plus `methods`. */
export interface ValidationSelection {
  /** Fully-qualified service names (`pkg.Service`). */
  readonly services: readonly string[];
  /** `pkg.Service/Method` (a leading `/` is accepted). */
  readonly methods: readonly string[];
}

export interface ValidatorTableOptions {
  /** Stop at the first violation instead of listing all (protovalidate `failFast`). Default false. */
  readonly failFast?: boolean;
}

/** The compiled check for one method's request messages. Immutable; shared by all streams. */
export class MethodValidator {
  /** `/pkg.Service/Method`, the gRPC `:path`. */
  readonly path: string;
  /** Fully-qualified input message name. */
  readonly inputType: string;
  readonly clientStreaming: boolean;
  readonly serverStreaming: boolean;

  constructor(
    method: DescMethod,
    private readonly schema: DescMessage,
    private readonly validator: Validator,
    /** The compiled "certainly valid" check of the input type (fast-validator.ts), null when its rules are outside the compiled subset. */
    private readonly fast: FastValidator | null = null,
  ) {
    this.path = `/${method.parent.typeName}/${method.name}`;
    this.inputType = schema.typeName;
    this.clientStreaming = method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming';
    this.serverStreaming = method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming';
  }

  /**
   * Decodes and validates one serialized (uncompressed) request message. Returns null when it is
   * valid, else the rejection. Synchronous; never throws.
   */
  check(bytes: Uint8Array): MessageRejection | null {
    // Valid messages (the common case) are settled by the compiled check; anything it is not
    // certain about goes through fromBinary + protovalidate, which also builds every rejection.
    const fast = this.fast;
    if (fast !== null && fast.isValid(bytes)) return null;
    let msg;
    try {
      msg = fromBinary(this.schema, bytes);
    } catch {
      return decodeRejection(this.inputType);
    }
    const r = this.validator.validate(this.schema, msg);
    if (r.kind === 'valid') return null;
    if (r.kind === 'invalid') return constraintRejection(r.violations);
    const m = 'request message could not be validated';
    return new MessageRejection('error', m, encodeInvalidArgumentStatus(m, []), []);
  }
}

function decodeRejection(typeName: string): MessageRejection {
  const m = `request message does not decode as ${typeName}`;
  return new MessageRejection('decode', m, encodeInvalidArgumentStatus(m, []), []);
}

/** Builds the rejection for protovalidate violations (all of them, in protovalidate's order). */
function constraintRejection(violations: readonly Violation[]): MessageRejection {
  const list: FieldViolation[] = new Array(violations.length);
  for (let i = 0; i < violations.length; i++) {
    const v = violations[i]!;
    list[i] = { field: pathToString(v.field), description: `${v.message} [${v.ruleId}]` };
  }
  const first = list[0]!;
  let m = `invalid request: ${first.field.length > 0 ? `${first.field}: ` : ''}${first.description}`;
  if (list.length > 1) m += `, and ${list.length - 1} more violation${list.length > 2 ? 's' : ''}`;
  return new MessageRejection('constraint', m, encodeInvalidArgumentStatus(m, list), list);
}

/** The validators of one config, by gRPC `:path`. Immutable. */
export class ValidatorTable {
  private readonly byPath: ReadonlyMap<string, MethodValidator>;

  constructor(validators: readonly MethodValidator[], readonly registry: FileRegistry) {
    const m = new Map<string, MethodValidator>();
    for (const v of validators) m.set(v.path, v);
    this.byPath = m;
  }

  /** The validator for a request `:path` (query ignored by gRPC clients; none is expected), or null. */
  get(path: string): MethodValidator | null {
    return this.byPath.get(path) ?? null;
  }

  get size(): number { return this.byPath.size; }

  /** The validated `:path`s (config dumps, tests). */
  paths(): string[] { return [...this.byPath.keys()]; }
}

/**
 * Parses a serialized FileDescriptorSet into a registry, adding buf/validate/validate.proto (and its
 * imports) when the set lacks them. Throws on bytes that are not a FileDescriptorSet or files whose
 * imports are missing.
 */
export function createValidationRegistry(descriptorSet: Uint8Array): FileRegistry {
  const set: FileDescriptorSet = fromBinary(FileDescriptorSetSchema, descriptorSet);
  const names = new Set(set.file.map((f) => f.name));
  const missing = bufValidateFileProtos().filter((f) => !names.has(f.name));
  // buf/validate depends on google/protobuf/descriptor.proto, which the set may hold, and the set's
  // files may import buf/validate: order everything so each file follows its dependencies.
  if (missing.length > 0) set.file = dependencyOrder([...set.file, ...missing]);
  return createFileRegistry(set);
}

/** `files` ordered so that every file comes after the files it imports (stable otherwise). */
function dependencyOrder(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f] as const));
  const out: FileDescriptorProto[] = [];
  const done = new Set<string>();
  const visit = (f: FileDescriptorProto): void => {
    if (done.has(f.name)) return;
    done.add(f.name);
    for (const dep of f.dependency) {
      const d = byName.get(dep);
      if (d !== undefined) visit(d);
    }
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

/**
 * Compiles the validators of `selection` from `descriptorSet`. Every problem (undecodable set,
 * unknown service or method, rules that do not compile) is reported with a path under `path`
 * (`<path>.services[1]: ...`).
 */
export function compileValidatorTable(descriptorSet: Uint8Array, selection: ValidationSelection, options: ValidatorTableOptions, path: string): ValidationResult<ValidatorTable> {
  const errors: ConfigIssue[] = [];
  let registry: FileRegistry;
  try {
    registry = createValidationRegistry(descriptorSet);
  } catch (err) {
    return { ok: false, errors: [{ path, message: `the descriptor set does not load: ${err instanceof Error ? err.message : String(err)}` }] };
  }
  const validator = createValidator({ registry, failFast: options.failFast ?? false });
  const methods: { method: DescMethod; at: string }[] = [];
  selection.services.forEach((name, i) => {
    const at = `${path}.services[${i}]`;
    const svc = registry.getService(name);
    if (svc === undefined) errors.push({ path: at, message: `service '${name}' is not in the descriptor set` });
    else for (const m of svc.methods) methods.push({ method: m, at });
  });
  selection.methods.forEach((raw, i) => {
    const at = `${path}.methods[${i}]`;
    const name = raw.startsWith('/') ? raw.slice(1) : raw;
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1 || name.indexOf('/', slash + 1) !== -1) {
      errors.push({ path: at, message: `expected 'package.Service/Method', got '${raw}'` });
      return;
    }
    const svc = registry.getService(name.slice(0, slash));
    const m = svc?.methods.find((x) => x.name === name.slice(slash + 1));
    if (m === undefined) errors.push({ path: at, message: `method '${name}' is not in the descriptor set` });
    else methods.push({ method: m, at });
  });
  const validators: MethodValidator[] = [];
  const seen = new Set<string>();
  const warmed = new Set<string>();
  const fastByType = new Map<string, FastValidator | null>();
  for (const { method, at } of methods) {
    let fast = fastByType.get(method.input.typeName);
    if (fast === undefined) {
      fast = compileFastValidator(method.input);
      fastByType.set(method.input.typeName, fast);
    }
    const v = new MethodValidator(method, method.input, validator, fast);
    if (seen.has(v.path)) continue;
    seen.add(v.path);
    if (!warmed.has(v.inputType)) {
      warmed.add(v.inputType);
      // Plans the message (and compiles its CEL programs) now; a rule that does not compile fails the config.
      const r = validator.validate(method.input, create(method.input));
      if (r.kind === 'error') {
        errors.push({ path: at, message: `the buf.validate rules of ${v.inputType} do not compile: ${r.error.message}` });
        continue;
      }
    }
    validators.push(v);
  }
  if (errors.length === 0 && validators.length === 0) errors.push({ path, message: 'no method to validate: list services or methods' });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: new ValidatorTable(validators, registry) };
}
