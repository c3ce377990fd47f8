/**
 * Test fixture for the transcoder unit tests: a small Library-like service with google.api.http
 * rules covering every binding form, compiled in-process with compileProtoSources (no protoc).
 */
import { compileProtoSources } from '../../config/compile/compile-proto';
import { DEFAULT_TRANSCODER_OPTIONS, TranscoderTable, type TranscoderOptions } from './transcoder-table';

export const FIXTURE_PROTO = `
syntax = "proto3";
package test.v1;
import "google/api/annotations.proto";
import "google/api/httpbody.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/any.proto";
import "google/protobuf/empty.proto";

enum Genre { GENRE_UNSPECIFIED = 0; FICTION = 1; SCIENCE = 2; }

message Inner { string name = 1; int32 count = 2; Genre genre = 3; }

message Req {
  string shelf = 1;
  int64 id = 2;
  string resource_name = 3;
  Inner inner = 4;
  repeated string tags = 5;
  repeated Genre genres = 6;
  Genre genre = 7;
  bool flag = 8;
  uint64 big = 9;
  bytes blob = 10;
  double ratio = 11;
  google.protobuf.Timestamp ts = 12;
  google.protobuf.Duration dur = 13;
  google.protobuf.FieldMask mask = 14;
  google.protobuf.StringValue wrapped = 15;
  google.protobuf.Struct meta = 16;
  map<string, string> labels = 17;
  repeated Inner inners = 18;
  int32 small = 19;
  google.protobuf.Any any = 20;
  google.protobuf.Int32Value wint = 21;
  string custom_json = 22 [json_name = "customJ"];
}

message Resp {
  string text = 1;
  int64 count = 2;
  Inner inner = 3;
  Genre genre = 4;
  repeated int32 nums = 5;
  google.api.HttpBody page = 6;
  int32 zero = 7;
  google.protobuf.Timestamp ts = 8;
  map<string, int32> counts = 9;
}

message UploadReq { string shelf = 1; google.api.HttpBody file = 2; }

service Library {
  rpc Get(Req) returns (Resp) {
    option (google.api.http) = {
      get: "/v1/shelves/{shelf}/books/{id}"
      additional_bindings { get: "/v1/{resource_name=shelves/*/books/**}" }
      additional_bindings { post: "/v1/shelves/{shelf}:get" body: "*" }
    };
  }
  rpc Create(Req) returns (Resp) { option (google.api.http) = { post: "/v1/shelves/{shelf}/books" body: "inner" }; }
  rpc Update(Req) returns (Resp) { option (google.api.http) = { patch: "/v1/shelves/{shelf}/books/{inner.name}" body: "*" }; }
  rpc Tags(Req) returns (Resp) { option (google.api.http) = { put: "/v1/tags" body: "tags" }; }
  rpc Text(Req) returns (Resp) { option (google.api.http) = { get: "/v1/text/{shelf}" response_body: "text" }; }
  rpc InnerOut(Req) returns (Resp) { option (google.api.http) = { get: "/v1/inner/{shelf}" response_body: "inner" }; }
  rpc Nums(Req) returns (Resp) { option (google.api.http) = { get: "/v1/nums" response_body: "nums" }; }
  rpc Page(Req) returns (Resp) { option (google.api.http) = { get: "/v1/page" response_body: "page" }; }
  rpc Raw(google.api.HttpBody) returns (google.api.HttpBody) { option (google.api.http) = { post: "/v1/raw" body: "*" }; }
  rpc Upload(UploadReq) returns (google.protobuf.Empty) { option (google.api.http) = { post: "/v1/shelves/{shelf}/upload" body: "file" }; }
  rpc Any(google.protobuf.Empty) returns (google.protobuf.Empty) { option (google.api.http) = { custom: { kind: "*" path: "/v1/any" } }; }
  rpc Unbound(Req) returns (Resp);
  rpc Watch(Req) returns (stream Resp) { option (google.api.http) = { get: "/v1/watch/{shelf}" }; }
  rpc Bulk(stream Req) returns (Resp) { option (google.api.http) = { post: "/v1/bulk/{shelf}" body: "*" }; }
}
`;

let cached: Uint8Array | null = null;

/** The fixture's FileDescriptorSet bytes (compiled once per test process). */
export function fixtureDescriptorSet(): Uint8Array {
  if (cached === null) cached = compileProtoSources([{ name: 'test/v1/library.proto', content: FIXTURE_PROTO }]);
  return cached;
}

/** Defaults + `test.v1.Library` + overrides. */
export function fixtureOptions(over: Partial<TranscoderOptions> = {}): TranscoderOptions {
  return { ...DEFAULT_TRANSCODER_OPTIONS, services: ['test.v1.Library'], ...over };
}

export function fixtureTable(over: Partial<TranscoderOptions> = {}): TranscoderTable {
  return TranscoderTable.compile(fixtureDescriptorSet(), fixtureOptions(over));
}
