/**
 * The label values of Istio's standard metrics, computed from config-time inputs only: this
 * sidecar's own workload (xDS node metadata), the chosen endpoint's Istio metadata (EDS
 * `filter_metadata.istio`), the outbound cluster name (`outbound|<port>|<subset>|<host>`), the
 * verified peer of a downstream connection, and the service host. Everything here runs at config
 * time or once per connection / endpoint / cluster, never per request; values that are not known
 * are `unknown` (canonical revisions `latest`), as Istio prints them.
 * See https://istio.io/latest/docs/reference/config/metrics/ for the label meanings.
 */
import type { NodeModel } from '../../config/model';
import type { PeerInfo } from '../stream-info';
import { NodeMetadataKey } from '../../config/node-metadata';

export const UNKNOWN = 'unknown';
/** Istio's canonical revision when none is known. */
export const LATEST = 'latest';

/** One side (source or destination) of a call, as Istio labels it. */
export interface WorkloadLabels {
  readonly workload: string;
  readonly namespace: string;
  /** A SPIFFE URI (`spiffe://<td>/ns/<ns>/sa/<sa>`) when the side is authenticated by mTLS, else `unknown`. */
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

/** The service a call addressed, as Istio labels it. */
export interface ServiceLabels {
  /** `destination_service`: the host (`greeter.demo.svc.cluster.local`). */
  readonly service: string;
  /** `destination_service_name`. */
  readonly name: string;
  /** `destination_service_namespace`. */
  readonly namespace: string;
}

export const UNKNOWN_WORKLOAD: WorkloadLabels = Object.freeze({
  workload: UNKNOWN, namespace: UNKNOWN, principal: UNKNOWN, app: UNKNOWN, version: UNKNOWN,
  canonicalService: UNKNOWN, canonicalRevision: LATEST, cluster: UNKNOWN,
});

export const UNKNOWN_SERVICE: ServiceLabels = Object.freeze({ service: UNKNOWN, name: UNKNOWN, namespace: UNKNOWN });

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** LABELS as an object of strings, or the `k=v,k2=v2` string form the CLI also accepts. */
function labelsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const k of Object.keys(v)) {
      const val = (v as Record<string, unknown>)[k];
      if (typeof val === 'string') out[k] = val;
    }
  } else if (typeof v === 'string') {
    for (const part of v.split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
  }
  return out;
}

/** Istio's injector defaults for the canonical service name and revision of a workload's labels. */
export function canonicalOf(labels: Readonly<Record<string, string>>, workload: string | null): { service: string; revision: string } {
  return {
    service: labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? workload ?? UNKNOWN,
    revision: labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels['version'] ?? LATEST,
  };
}

/** This sidecar's workload: its own labels, with `principal` its SPIFFE ID (or null when it has no identity). */
export interface OwnWorkload {
  /** The labels with `principal` set to `unknown` (plaintext calls). */
  readonly plain: WorkloadLabels;
  /** The labels with `principal` set to the SPIFFE ID (mTLS calls); equal to `plain` without an identity. */
  readonly secure: WorkloadLabels;
}

/**
 * Reads WORKLOAD_NAME, NAMESPACE, SERVICE_ACCOUNT, TRUST_DOMAIN (default `cluster.local`), LABELS
 * (`app`, `version`, canonical labels) and CLUSTER_ID from the node metadata. Pure.
 */
export function ownWorkload(node: NodeModel): OwnWorkload {
  const md = node.metadata;
  const workload = str(md[NodeMetadataKey.WorkloadName]);
  const namespace = str(md[NodeMetadataKey.Namespace]);
  const sa = str(md[NodeMetadataKey.ServiceAccount]);
  const td = str(md[NodeMetadataKey.TrustDomain]) ?? 'cluster.local';
  const labels = labelsOf(md[NodeMetadataKey.Labels]);
  const canonical = canonicalOf(labels, workload);
  const plain: WorkloadLabels = Object.freeze({
    workload: workload ?? UNKNOWN,
    namespace: namespace ?? UNKNOWN,
    principal: UNKNOWN,
    app: labels['app'] ?? UNKNOWN,
    version: labels['version'] ?? UNKNOWN,
    canonicalService: canonical.service,
    canonicalRevision: canonical.revision,
    cluster: str(md[NodeMetadataKey.ClusterId]) ?? UNKNOWN,
  });
  const secure = namespace !== null && sa !== null ? Object.freeze({ ...plain, principal: `spiffe://${td}/ns/${namespace}/sa/${sa}` }) : plain;
  return { plain, secure };
}

/** A destination endpoint as its Istio metadata describes it. */
export interface EndpointPeer {
  readonly labels: WorkloadLabels;
  /** True when the metadata names the SPIFFE ID the endpoint is verified against (the cluster uses mTLS). */
  readonly mutualTls: boolean;
}

/**
 * Reads an endpoint's `filter_metadata` (`istio.workload` =
 * `<workload>;<namespace>;<canonical service>;<canonical revision>;<cluster>`, plus Remora's
 * `istio.app`, `istio.version`, `istio.identity`); null when there is no Istio workload metadata.
 * Empty or missing parts are `unknown` (`latest` for the revision).
 */
export function endpointPeer(metadata: Readonly<Record<string, unknown>>): EndpointPeer | null {
  const istio = metadata['istio'];
  if (typeof istio !== 'object' || istio === null) return null;
  const o = istio as Record<string, unknown>;
  const w = o['workload'];
  if (typeof w !== 'string') return null;
  const parts = w.split(';');
  if (parts.length < 5) return null;
  const identity = str(o['identity']);
  return {
    labels: Object.freeze({
      workload: parts[0] || UNKNOWN,
      namespace: parts[1] || UNKNOWN,
      principal: identity ?? UNKNOWN,
      app: str(o['app']) ?? UNKNOWN,
      version: str(o['version']) ?? UNKNOWN,
      canonicalService: parts[2] || UNKNOWN,
      canonicalRevision: parts[3] || LATEST,
      cluster: parts[4] || UNKNOWN,
    }),
    mutualTls: identity !== null,
  };
}

/** The verified peer of an inbound connection; only principal and namespace are known without metadata exchange. */
export function peerWorkload(peer: PeerInfo | null): WorkloadLabels {
  if (peer === null) return UNKNOWN_WORKLOAD;
  return Object.freeze({ ...UNKNOWN_WORKLOAD, principal: peer.spiffeId ?? UNKNOWN, namespace: peer.namespace ?? UNKNOWN });
}

/**
 * The service labels of `host`: Kubernetes-style hosts (`<name>.<ns>.svc[.<domain>]`) give the
 * short name and their namespace; other hosts (ServiceEntry hosts) are their own name, as Istio
 * labels ServiceEntry services, with `namespace` (the peer's, as Istio does) when known.
 */
export function serviceFromHost(host: string, namespace: string | null): ServiceLabels {
  if (host === '') return UNKNOWN_SERVICE;
  const dot = host.indexOf('.');
  if (dot > 0) {
    const dot2 = host.indexOf('.', dot + 1);
    if (dot2 > dot + 1 && host.startsWith('.svc', dot2) && (host.length === dot2 + 4 || host[dot2 + 4] === '.')) {
      return { service: host, name: host.slice(0, dot), namespace: host.slice(dot + 1, dot2) };
    }
  }
  return { service: host, name: host, namespace: namespace ?? UNKNOWN };
}

/**
 * The host of an Istio outbound cluster name (`outbound|<port>|<subset>|<host>`); null for any
 * other name (static bootstrap clusters, `inbound|…`).
 */
export function outboundClusterHost(cluster: string): string | null {
  if (!cluster.startsWith('outbound|')) return null;
  const i = cluster.indexOf('|', 9);
  const j = i < 0 ? -1 : cluster.indexOf('|', i + 1);
  if (j < 0 || j === cluster.length - 1) return null;
  return cluster.slice(j + 1);
}

/**
 * The host an inbound route names: `inbound|<host>:<port>` (Remora's inbound virtual host naming)
 * gives `<host>`; anything else (the `inbound|*` catch-all, `default`) null.
 */
export function inboundRouteHost(routeName: string): string | null {
  if (!routeName.startsWith('inbound|')) return null;
  const rest = routeName.slice(8);
  if (rest === '' || rest === '*') return null;
  const colon = rest.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(rest.slice(colon + 1)) ? rest.slice(0, colon) : rest;
}

/** The host part of an `:authority` (`host[:port]`, `[v6]:port`), lowercased. */
export function authorityHost(authority: string): string {
  let h = authority;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(0, end + 1) : h;
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  }
  return h.toLowerCase();
}
