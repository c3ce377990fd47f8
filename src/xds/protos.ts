/**
 * Loading of the Envoy v3 / xds / googleapis / protoc-gen-validate `.proto` files that ship inside
 * `@grpc/grpc-js-xds` (its `deps/` folder) into one protobufjs `Root` with `keepCase` field names.
 * This is the single place that knows where those protos live (see docs in /work/shared/notes/xds.md
 * §2.2); everything else receives the `Root` as a parameter. There is no module-level cache: a
 * caller (the composition root) loads once and keeps the Root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** The proto files Remora needs for bootstrap, xDS resources, ADS and the HTTP filters it implements. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/filters/cel/v3/cel.proto',
  'envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
];

/**
 * Remora's own config protos (extension typed_configs that Envoy has no type for), relative to
 * `remoraProtoDir()`. `loadEnvoyProtos` loads them into the same Root as the Envoy ones.
 */
export const REMORA_PROTO_FILES: readonly string[] = [
  'remora/filters/http/global_ratelimit/v1alpha1/global_ratelimit.proto',
  'remora/filters/http/istio_stats/v1/istio_stats.proto',
  'remora/filters/http/grpc_validation/v1/grpc_validation.proto',
  'remora/filters/http/grpc_json_transcoder/v1/reflection.proto',
  'remora/access_loggers/v1/json_access_log.proto',
];

/**
 * The repository's `proto/` folder (holding `remora/...`), found by walking up from this file, so
 * it resolves from `src/xds/` (tsx) and from `dist/src/xds/` (compiled) alike. Throws if missing.
 */
export function remoraProtoDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'remora'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no proto/remora folder above ${__dirname}`);
    dir = parent;
  }
}

/**
 * The four include directories under `@grpc/grpc-js-xds/deps/`, resolved through
 * `require.resolve('@grpc/grpc-js-xds/package.json')`. Order: envoy-api, xds, googleapis,
 * protoc-gen-validate. Throws if the package is not installed.
 */
export function protoIncludeDirs(): string[] {
  const pkg = require.resolve('@grpc/grpc-js-xds/package.json');
  const deps = path.join(path.dirname(pkg), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
}

/**
 * Loads `ENVOY_PROTO_FILES`, `REMORA_PROTO_FILES` plus `extraFiles` (paths relative to an include dir, or absolute) into a
 * fresh protobufjs Root (`keepCase: true`), resolves all types, and returns it. Synchronous and slow
 * (hundreds of ms to a few s): call once at startup and keep the Root. `google/protobuf/*` come from
 * protobufjs's bundled well-known types. Throws on a missing or unparsable file.
 */
export function loadEnvoyProtos(extraFiles: readonly string[] = []): protobuf.Root {
  // protobufjs bundles the well-known types but not descriptor.proto (imported by the validate
  // annotations); its package ships that file, so it is the last include dir.
  const includeDirs = [...protoIncludeDirs(), remoraProtoDir(), path.dirname(require.resolve('protobufjs/package.json'))];
  const root = new protobuf.Root();
  root.resolvePath = (origin: string, target: string): string | null => {
    if (path.isAbsolute(target)) return target;
    for (let i = 0; i < includeDirs.length; i++) {
      const candidate = path.join(includeDirs[i]!, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync([...ENVOY_PROTO_FILES, ...REMORA_PROTO_FILES, ...extraFiles], { keepCase: true });
  root.resolveAll();
  return root;
}
