/**
 * @internal A sample schema with buf.validate rules for tests and benchmarks, built without protoc:
 * the FileDescriptorProto of `remora/test/validation/v1/accounts.proto` is constructed with
 * @bufbuild/protobuf and its field options carry `(buf.validate.field)` / `(buf.validate.message)`
 * extensions, exactly what protoc would emit for this source:
 *
 *   syntax = "proto3";
 *   package remora.test.validation.v1;
 *   import "buf/validate/validate.proto";
 *   enum Tier { TIER_UNSPECIFIED = 0; TIER_FREE = 1; TIER_PRO = 2; }
 *   message Address { string city = 1 [(buf.validate.field).string.min_len = 1]; }
 *   message CreateAccountRequest {
 *     option (buf.validate.message).cel = {id: "age.adult_pro", message: "pro accounts need age >= 18",
 *       expression: "this.tier != 2 || this.age >= 18"};
 *     string name = 1 [(buf.validate.field).string = {min_len: 3, max_len: 20}];
 *     string handle = 2 [(buf.validate.field).string.pattern = "^[a-z][a-z0-9_]*$"];
 *     string email = 3 [(buf.validate.field).string.email = true];
 *     string id = 4 [(buf.validate.field).string.uuid = true];
 *     int32 age = 5 [(buf.validate.field).int32 = {gte: 0, lte: 150}];
 *     double score = 6 [(buf.validate.field).double = {gte: 0, lt: 100}];
 *     Address address = 7 [(buf.validate.field).required = true];
 *     repeated string tags = 8 [(buf.validate.field).repeated = {min_items: 1, max_items: 5}];
 *     map<string, string> labels = 9 [(buf.validate.field).map.max_pairs = 3];
 *     Tier tier = 10 [(buf.validate.field).enum.defined_only = true];
 *     int64 quota = 11 [(buf.validate.field).cel = {id: "quota.even", message: "quota must be even",
 *       expression: "this % 2 == 0"}];
 *   }
 *   message Account { string id = 1; string name = 2; }
 *   service Accounts {
 *     rpc Create(CreateAccountRequest) returns (Account);                 // unary
 *     rpc Import(stream CreateAccountRequest) returns (Account);          // client streaming
 *     rpc Watch(CreateAccountRequest) returns (stream Account);           // server streaming
 *     rpc Sync(stream CreateAccountRequest) returns (stream Account);     // bidi
 *   }
 *
 * With `{ httpRules: true }` the file also imports "google/api/annotations.proto" and carries
 * `google.api.http` rules for the JSON transcoder (google/api/{annotations,http}.proto compiled
 * from the googleapis copy in @grpc/grpc-js-xds, no protoc):
 *
 *     Create: post "/v1/accounts" body "*";   Import: post "/v1/accounts:import" body "*";
 *     Watch:  post "/v1/accounts:watch" body "*"   (Sync stays unbound)
 */
import { create, createFileRegistry, fromBinary, setExtension, toBinary, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FieldDescriptorProtoSchema, FieldOptionsSchema,
  FileDescriptorProtoSchema, FileDescriptorSetSchema, MessageOptionsSchema, MethodOptionsSchema, type FieldDescriptorProto,
  type FileDescriptorProto, type MethodOptions,
} from '@bufbuild/protobuf/wkt';
import { compileGoogleapis } from '../../config/compile/compile-proto';
import {
  field as fieldRulesExt, message as messageRulesExt, FieldRulesSchema, MessageRulesSchema, type FieldRules,
} from '@bufbuild/protovalidate/gen/buf/validate/validate_pb.js';
import { BUF_VALIDATE_PROTO, bufValidateFileProtos } from './buf-validate-descriptors';

export const SAMPLE_PACKAGE = 'remora.test.validation.v1';
export const SAMPLE_SERVICE = `${SAMPLE_PACKAGE}.Accounts`;
export const SAMPLE_REQUEST = `${SAMPLE_PACKAGE}.CreateAccountRequest`;
export const SAMPLE_RESPONSE = `${SAMPLE_PACKAGE}.Account`;
/** The import that declares `google.api.http`. */
export const GOOGLE_API_ANNOTATIONS_PROTO = 'google/api/annotations.proto';

/** The HTTP paths of the `google.api.http` rules (with `{ httpRules: true }`), all POST with body "*". */
export const SAMPLE_HTTP_PATHS: Readonly<Record<'Create' | 'Import' | 'Watch', string>> = Object.freeze({
  Create: '/v1/accounts',
  Import: '/v1/accounts:import',
  Watch: '/v1/accounts:watch',
});

export interface SampleOptions {
  /** Adds the `google.api.http` rules (and the google/api/annotations.proto import). Default false. */
  readonly httpRules?: boolean;
}

/** google/api/annotations.proto and its imports (http.proto, descriptor.proto), dependencies first. */
export function googleApiFileProtos(): FileDescriptorProto[] {
  return fromBinary(FileDescriptorSetSchema, compileGoogleapis([GOOGLE_API_ANNOTATIONS_PROTO])).file;
}

/** MethodOptions carrying `(google.api.http) = { post: path, body: "*" }`, from `apis`' registry. */
function httpRuleOptions(apis: FileRegistry, path: string): MethodOptions {
  const ext = apis.getExtension('google.api.http');
  const rule = apis.getMessage('google.api.HttpRule');
  if (ext === undefined || rule === undefined) throw new Error('google/api/annotations.proto does not declare google.api.http');
  const options = create(MethodOptionsSchema);
  setExtension(options, ext, create(rule, { pattern: { case: 'post', value: path }, body: '*' } as never) as never);
  return options;
}

type RulesInit = Parameters<typeof create<typeof FieldRulesSchema>>[1];

function scalar(name: string, number: number, type: Type, rules: RulesInit | null, label: Label = Label.OPTIONAL, typeName = ''): FieldDescriptorProto {
  const f = create(FieldDescriptorProtoSchema, { name, number, type, label, jsonName: jsonName(name), typeName });
  if (rules !== null) {
    const options = create(FieldOptionsSchema);
    setExtension(options, fieldRulesExt, create(FieldRulesSchema, rules) as FieldRules);
    f.options = options;
  }
  return f;
}

function jsonName(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The sample file's FileDescriptorProto (see the file comment for its source). */
export function sampleFileProto(options: SampleOptions = {}): FileDescriptorProto {
  const pkg = SAMPLE_PACKAGE;
  const http = options.httpRules === true;
  const apis = http ? createFileRegistry(create(FileDescriptorSetSchema, { file: googleApiFileProtos() })) : null;
  const rule = (path: string): MethodOptions | undefined => (apis === null ? undefined : httpRuleOptions(apis, path));
  const reqOptions = create(MessageOptionsSchema);
  setExtension(reqOptions, messageRulesExt, create(MessageRulesSchema, {
    cel: [{ id: 'age.adult_pro', message: 'pro accounts need age >= 18', expression: 'this.tier != 2 || this.age >= 18' }],
  }));
  return create(FileDescriptorProtoSchema, {
    name: 'remora/test/validation/v1/accounts.proto',
    package: pkg,
    syntax: 'proto3',
    dependency: http ? [BUF_VALIDATE_PROTO, GOOGLE_API_ANNOTATIONS_PROTO] : [BUF_VALIDATE_PROTO],
    enumType: [{ name: 'Tier', value: [{ name: 'TIER_UNSPECIFIED', number: 0 }, { name: 'TIER_FREE', number: 1 }, { name: 'TIER_PRO', number: 2 }] }],
    messageType: [
      { name: 'Address', field: [scalar('city', 1, Type.STRING, { type: { case: 'string', value: { minLen: 1n } } })] },
      {
        name: 'CreateAccountRequest',
        options: reqOptions,
        field: [
          scalar('name', 1, Type.STRING, { type: { case: 'string', value: { minLen: 3n, maxLen: 20n } } }),
          scalar('handle', 2, Type.STRING, { type: { case: 'string', value: { pattern: '^[a-z][a-z0-9_]*$' } } }),
          scalar('email', 3, Type.STRING, { type: { case: 'string', value: { wellKnown: { case: 'email', value: true } } } }),
          scalar('id', 4, Type.STRING, { type: { case: 'string', value: { wellKnown: { case: 'uuid', value: true } } } }),
          scalar('age', 5, Type.INT32, { type: { case: 'int32', value: { greaterThan: { case: 'gte', value: 0 }, lessThan: { case: 'lte', value: 150 } } } }),
          scalar('score', 6, Type.DOUBLE, { type: { case: 'double', value: { greaterThan: { case: 'gte', value: 0 }, lessThan: { case: 'lt', value: 100 } } } }),
          scalar('address', 7, Type.MESSAGE, { required: true }, Label.OPTIONAL, `.${pkg}.Address`),
          scalar('tags', 8, Type.STRING, { type: { case: 'repeated', value: { minItems: 1n, maxItems: 5n } } }, Label.REPEATED),
          scalar('labels', 9, Type.MESSAGE, { type: { case: 'map', value: { maxPairs: 3n } } }, Label.REPEATED, `.${pkg}.CreateAccountRequest.LabelsEntry`),
          scalar('tier', 10, Type.ENUM, { type: { case: 'enum', value: { definedOnly: true } } }, Label.OPTIONAL, `.${pkg}.Tier`),
          scalar('quota', 11, Type.INT64, { cel: [{ id: 'quota.even', message: 'quota must be even', expression: 'this % 2 == 0' }] }),
        ],
        nestedType: [{
          name: 'LabelsEntry',
          options: { mapEntry: true },
          field: [scalar('key', 1, Type.STRING, null), scalar('value', 2, Type.STRING, null)],
        }],
      },
      { name: 'Account', field: [scalar('id', 1, Type.STRING, null), scalar('name', 2, Type.STRING, null)] },
    ],
    service: [{
      name: 'Accounts',
      method: [
        { name: 'Create', inputType: `.${SAMPLE_REQUEST}`, outputType: `.${SAMPLE_RESPONSE}`, options: rule(SAMPLE_HTTP_PATHS.Create) },
        { name: 'Import', inputType: `.${SAMPLE_REQUEST}`, outputType: `.${SAMPLE_RESPONSE}`, clientStreaming: true, options: rule(SAMPLE_HTTP_PATHS.Import) },
        { name: 'Watch', inputType: `.${SAMPLE_REQUEST}`, outputType: `.${SAMPLE_RESPONSE}`, serverStreaming: true, options: rule(SAMPLE_HTTP_PATHS.Watch) },
        { name: 'Sync', inputType: `.${SAMPLE_REQUEST}`, outputType: `.${SAMPLE_RESPONSE}`, clientStreaming: true, serverStreaming: true },
      ],
    }],
  });
}

/**
 * The sample schema as a serialized FileDescriptorSet. `withBufValidate` (default true) includes
 * buf/validate/validate.proto and its imports, as `protoc --include_imports` would; with
 * `{ httpRules: true }` google/api/annotations.proto and its imports are always included (each
 * file once, dependencies first).
 */
export function sampleDescriptorSet(withBufValidate = true, options: SampleOptions = {}): Uint8Array {
  const deps: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const add = (files: FileDescriptorProto[]): void => {
    for (const f of files) if (!seen.has(f.name)) { seen.add(f.name); deps.push(f); }
  };
  if (withBufValidate) add(bufValidateFileProtos());
  if (options.httpRules === true) add(googleApiFileProtos());
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [...deps, sampleFileProto(options)] }));
}

/** A registry over the sample schema (to build and read messages in tests). */
export function sampleRegistry(): FileRegistry {
  return createFileRegistry(create(FileDescriptorSetSchema, { file: [...bufValidateFileProtos(), sampleFileProto()] }));
}

/** The CreateAccountRequest and Account schemas from `registry`. */
export function sampleSchemas(registry: FileRegistry = sampleRegistry()): { request: DescMessage; response: DescMessage } {
  const request = registry.getMessage(SAMPLE_REQUEST);
  const response = registry.getMessage(SAMPLE_RESPONSE);
  if (request === undefined || response === undefined) throw new Error('sample schema is incomplete');
  return { request, response };
}

/** Field values of a CreateAccountRequest that satisfy every rule (override some to break one). */
export function validRequestInit(): Record<string, unknown> {
  return {
    name: 'Ada Lovelace',
    handle: 'ada_l',
    email: 'ada@example.com',
    id: '8f14e45f-ceea-467f-a0e6-4f9f7d3c2c11',
    age: 36,
    score: 99.5,
    address: { city: 'London' },
    tags: ['math', 'engines'],
    labels: { team: 'analytical' },
    tier: 2,
    quota: 10n,
  };
}
