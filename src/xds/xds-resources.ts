/**
 * The xDS resource types the sidecar consumes (the four core ones plus SDS `Secret`): their type URLs, which are
 * full-state in State of the World (LDS, CDS), and `decodeResource`, which turns one
 * `DiscoveryResponse.resources[i]` (`{type_url, value}`) into its name plus the compiled data-plane
 * model (`config/compile/*`) or every validation error with its field path. Never throws: malformed
 * bytes, a wrong type URL and compile errors all come back as a failed `ValidationResult`.
 * Listeners that carry only an `api_listener` (proxyless gRPC clients) are reported as `ignored`.
 */
import type * as protobuf from 'protobufjs';
import type { ValidationResult } from '../core/errors';
import type { ClusterLoadAssignmentModel, ClusterModel, ListenerModel, RouteConfigModel, SecretModel } from '../config/model';
import { compileCluster } from '../config/compile/cluster';
import { compileClusterLoadAssignment } from '../config/compile/cluster-load-assignment';
import type { CompileDeps } from '../config/compile/http-filter-compiler';
import { compileListener } from '../config/compile/listener';
import { decodeProtoBinary, type ProtoObject } from '../config/compile/proto-json';
import { compileRouteConfiguration } from '../config/compile/route-configuration';
import { compileSecret } from '../config/compile/secret';

export const XDS_TYPE_URL = {
  LISTENER: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  ROUTE: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  CLUSTER: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ENDPOINT: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  SECRET: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type XdsType = 'lds' | 'rds' | 'cds' | 'eds' | 'sds';

/** Type URL → short name, and back. */
export const TYPE_OF_URL: ReadonlyMap<string, XdsType> = new Map<string, XdsType>([
  [XDS_TYPE_URL.LISTENER, 'lds'],
  [XDS_TYPE_URL.ROUTE, 'rds'],
  [XDS_TYPE_URL.CLUSTER, 'cds'],
  [XDS_TYPE_URL.ENDPOINT, 'eds'],
  [XDS_TYPE_URL.SECRET, 'sds'],
]);
export const URL_OF_TYPE: Readonly<Record<XdsType, string>> = {
  lds: XDS_TYPE_URL.LISTENER,
  rds: XDS_TYPE_URL.ROUTE,
  cds: XDS_TYPE_URL.CLUSTER,
  eds: XDS_TYPE_URL.ENDPOINT,
  sds: XDS_TYPE_URL.SECRET,
};

/** Compiled model per short type name. */
export interface XdsModels {
  lds: ListenerModel;
  rds: RouteConfigModel;
  cds: ClusterModel;
  eds: ClusterLoadAssignmentModel;
  sds: SecretModel;
}
export type XdsModel = XdsModels[XdsType];

/** LDS and CDS responses carry the whole state: a resource absent from one is deleted. */
export function isFullState(type: XdsType): boolean {
  return type === 'lds' || type === 'cds';
}

/** One decoded resource: `name` is '' when even the name could not be read. */
export interface DecodedResource<T> {
  readonly name: string;
  /** True for resources the sidecar does not consume (api_listener-only Listeners). */
  readonly ignored: boolean;
  readonly result: ValidationResult<T>;
}

const FULL_NAME: Readonly<Record<XdsType, string>> = {
  lds: 'envoy.config.listener.v3.Listener',
  rds: 'envoy.config.route.v3.RouteConfiguration',
  cds: 'envoy.config.cluster.v3.Cluster',
  eds: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  sds: 'envoy.extensions.transport_sockets.tls.v3.Secret',
};

/**
 * Decodes and compiles one resource of `type`. `any.type_url` must be the type's URL. Errors carry
 * field paths relative to the resource (the caller prefixes the resource name).
 */
export function decodeResource<K extends XdsType>(
  root: protobuf.Root, deps: CompileDeps, type: K, any: { type_url: string; value: Uint8Array },
): DecodedResource<XdsModels[K]> {
  const bytes = any.value;
  if (any.type_url !== URL_OF_TYPE[type]) {
    return { name: readField1String(bytes), ignored: false, result: fail('@type', `expected ${URL_OF_TYPE[type]}, got '${any.type_url}'`) };
  }
  let obj: ProtoObject;
  try {
    obj = decodeProtoBinary(root, FULL_NAME[type], bytes);
  } catch (err) {
    return { name: readField1String(bytes), ignored: false, result: fail('', `cannot decode: ${(err as Error).message}`) };
  }
  const name = String((type === 'eds' ? obj['cluster_name'] : obj['name']) ?? '');
  let result: ValidationResult<XdsModel>;
  switch (type) {
    case 'lds':
      if (obj['api_listener'] !== undefined && obj['address'] === undefined) {
        return { name, ignored: true, result: fail('api_listener', 'api_listener Listeners are for proxyless clients') };
      }
      result = compileListener(obj, deps);
      break;
    case 'rds': result = compileRouteConfiguration(obj, deps); break;
    case 'cds': result = compileCluster(obj, deps); break;
    case 'sds': result = compileSecret(obj, deps); break;
    default: result = compileClusterLoadAssignment(obj); break;
  }
  return { name, ignored: false, result: result as ValidationResult<XdsModels[K]> };
}

function fail(path: string, message: string): ValidationResult<never> {
  return { ok: false, errors: [{ path, message }] };
}

/**
 * Reads protobuf field 1 as a string from encoded bytes: `name` of Listener, RouteConfiguration,
 * Cluster and Secret, `cluster_name` of ClusterLoadAssignment. '' when absent or malformed.
 */
export function readField1String(buf: Uint8Array): string {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new RangeError('truncated');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
  };
  try {
    while (pos < buf.length) {
      const tag = varint();
      const wire = tag & 7;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const len = varint();
        if (tag >>> 3 === 1) return Buffer.from(buf.buffer, buf.byteOffset + pos, Math.min(len, buf.length - pos)).toString('utf8');
        pos += len;
      } else return '';
    }
  } catch {
    return '';
  }
  return '';
}
