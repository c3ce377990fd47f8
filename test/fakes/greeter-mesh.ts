/**
 * Mesh YAML builders for the greeter service the control-plane tests share: a ServiceEntry
 * `greeter.demo.svc:50051` (GRPC, selecting `app: greeter`), WorkloadEntries on 127.0.0.1, the v1/v2
 * DestinationRule and a weighted VirtualService with optional canary and direct-response routes.
 */

export const GREETER_HOST = 'greeter.demo.svc';

/** Joins documents into one multi-document YAML text. */
export function meshDocs(...docs: string[]): string {
  return docs.join('---\n');
}

export function greeterService(): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: greeter, namespace: demo }
spec:
  hosts: [${GREETER_HOST}]
  resolution: STATIC
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: greeter } }
`;
}

/** A WorkloadEntry `name` at 127.0.0.1:`port` with `app: greeter` plus `labels`. */
export function greeterWorkload(name: string, port: number, labels: Record<string, string>, serviceAccount?: string): string {
  const all = Object.entries({ app: 'greeter', ...labels }).map(([k, v]) => `${k}: ${v}`).join(', ');
  const sa = serviceAccount === undefined ? '' : `, serviceAccount: ${serviceAccount}`;
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: demo }
spec: { address: 127.0.0.1, ports: { grpc: ${port} }, labels: { ${all} }${sa} }
`;
}

/** The DestinationRule with subsets v1 and v2 (by the `version` label). */
export function greeterSubsets(): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: greeter, namespace: demo }
spec:
  host: ${GREETER_HOST}
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
`;
}

export interface GreeterRoutes {
  readonly weights: readonly [number, number];
  /** Subset of the second weighted destination (default v2; another name makes a dangling reference). */
  readonly v2Subset?: string;
  /** A first route sending `x-canary: true` to v2. */
  readonly canary?: boolean;
  /** A first route answering `x-maintenance: true` with a direct 503. */
  readonly directResponse?: boolean;
}

/** The VirtualService: optional canary / direct-response routes, then the v1/v2 weighted split. */
export function greeterRoutes(r: GreeterRoutes): string {
  const canary = r.canary === true ? `  - name: canary
    match: [{ headers: { x-canary: { exact: "true" } } }]
    route: [{ destination: { host: ${GREETER_HOST}, subset: v2 } }]
` : '';
  const direct = r.directResponse === true ? `  - name: maintenance
    match: [{ headers: { x-maintenance: { exact: "true" } } }]
    directResponse: { status: 503, body: { string: "down for maintenance" } }
` : '';
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: greeter, namespace: demo }
spec:
  hosts: [${GREETER_HOST}]
  http:
${canary}${direct}  - name: split
    route:
    - { destination: { host: ${GREETER_HOST}, subset: v1 }, weight: ${r.weights[0]} }
    - { destination: { host: ${GREETER_HOST}, subset: ${r.v2Subset ?? 'v2'} }, weight: ${r.weights[1]} }
`;
}
