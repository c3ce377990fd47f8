/**
 * Resource naming of the translation, Istio-style so operators can read `remora status` and config
 * dumps the way they read istioctl output: `outbound|<port>|<subset>|<host>` and `inbound|<port>||`
 * clusters, the `outbound`/`inbound` sidecar listeners and route configurations, and the
 * `<host>:<port>` (and bare `<host>`) api_listeners/route configurations for proxyless gRPC, whose
 * listener name is the `xds:///` target path verbatim.
 */

/** Name of the sidecar's outbound listener and of its route configuration. */
export const OUTBOUND_NAME = 'outbound';
/** Name of the sidecar's inbound listener and of its route configuration. */
export const INBOUND_NAME = 'inbound';

/** `outbound|<port>|<subset>|<host>` (subset '' for the whole service). Also the EDS service name. */
export function outboundClusterName(port: number, host: string, subset: string | null = null): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

/** `inbound|<app port>||`: the local app behind this sidecar. */
export function inboundClusterName(appPort: number): string {
  return `inbound|${appPort}||`;
}

/** `<host>:<port>`: the api_listener and route configuration name for proxyless gRPC. */
export function hostPortName(host: string, port: number): string {
  return `${host}:${port}`;
}
