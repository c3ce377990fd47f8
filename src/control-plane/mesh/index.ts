/**
 * Public surface of the mesh config: `loadMeshConfig` (YAML text by file → validated MeshConfig or
 * every issue), the model types and `formatMeshIssue`.
 */
export { loadMeshConfig, labelsMatch, NETWORKING_API_VERSIONS, type MeshConfigResult } from './load-mesh-config';
export { parseDurationMs } from './common-fields';
export { DEFAULT_TELEMETRY_PROVIDERS, type ExtensionProvider, type TelemetryProviders } from './extension-providers';
export { TELEMETRY_API_VERSIONS, type Telemetry, type TracingRule, type AccessLoggingRule, type MetricsRule, type CustomTag, type WorkloadMode } from './telemetry';
export type { GrpcTranscoder, TranscoderOptions, TranscoderPrintOptions, TranscoderRequestValidation, UrlUnescapeSpec, ValidationSelection, DescriptorSource } from './grpc-transcoder';
export type { GrpcValidation } from './grpc-validation';
export * from './model';
