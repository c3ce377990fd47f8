/**
 * Public surface of the config pipeline: Envoy v3 resources (JSON/YAML or binary) → ProtoObject →
 * the compiled, deep-frozen data-plane model of `config/model.ts`.
 */
export { compileBootstrap } from './bootstrap';
export { compileCluster } from './cluster';
export { compileClusterLoadAssignment } from './cluster-load-assignment';
export { compileHttpConnectionManager, HCM_TYPE_URL } from './http-connection-manager';
export { ROUTER_TYPE_URL, type CompileDeps, type HttpFilterCompiler } from './http-filter-compiler';
export { compileListener } from './listener';
export { loadBootstrap, parseBootstrapText, BOOTSTRAP_TYPE } from './load-bootstrap';
export { decodeProtoBinary, encodeProtoObject, packAny, parseProtoJson, type ProtoObject } from './proto-json';
export { compileRouteConfiguration } from './route-configuration';
export { DOWNSTREAM_TLS_TYPE_URL, UPSTREAM_TLS_TYPE_URL } from './tls';
