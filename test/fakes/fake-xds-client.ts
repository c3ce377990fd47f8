/**
 * A real grpc-js ADS (State of the World) client for tests and the control-plane benchmark. It
 * opens one `StreamAggregatedResources` stream, sends the node only on the first request (as
 * grpc-js-xds does), subscribes on command, records every response (with resource names read from
 * field 1 of each encoded resource, which is `name`/`cluster_name` for all xDS resource types), and
 * ACKs or NACKs each response automatically (`autoAck`, with `nackIf` to choose NACKs) or on
 * command. Waits are event-driven with a deadline. The end of the file has tiny builders of xDS
 * resources (canonical ProtoObjects) and `XdsResourceSet`s for control-plane tests.
 */
import * as grpc from '@grpc/grpc-js';
import {
  jsonToStruct,
  loadAdsDefinition,
  type AdsDefinition,
  type WireDiscoveryRequest,
  type WireDiscoveryResponse,
} from '../../src/control-plane/server/ads-proto';
import type { ProtoObject } from '../../src/config/compile/proto-json';
import { TYPE_URL, type XdsResourceSet, type XdsTypeUrl } from '../../src/control-plane/cache/resources';
import { readField1String } from '../../src/xds/xds-resources';

export interface FakeNode {
  readonly id: string;
  readonly cluster?: string;
  readonly metadata?: Record<string, unknown>;
}

export interface FakeResource {
  readonly name: string;
  readonly typeUrl: string;
  readonly value: Buffer;
}

/** One response as received. `seq` is its 0-based index in `responses`. */
export interface FakeResponse {
  readonly seq: number;
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly resources: readonly FakeResource[];
  readonly names: readonly string[];
}

export interface FakeXdsClientOptions {
  /** host:port of the ADS server. */
  readonly target: string;
  readonly node: FakeNode;
  /** A preloaded ADS definition (share one across many clients). */
  readonly definition?: AdsDefinition;
  /** An existing ADS client (share one channel across many streams). */
  readonly client?: grpc.Client;
  /** ACK/NACK every response automatically (default true). */
  readonly autoAck?: boolean;
  /** With autoAck: return an error message to NACK a response instead of ACKing it. */
  readonly nackIf?: (response: FakeResponse) => string | null;
}

interface TypeState {
  names: string[];
  lastNonce: string;
  ackedVersion: string;
}

/** One ADS stream. */
export class FakeXdsClient {
  readonly responses: FakeResponse[] = [];
  /** Every request written, in order. */
  readonly requests: WireDiscoveryRequest[] = [];
  /** The stream's final status once it ended, else null. */
  status: grpc.StatusObject | null = null;
  nackIf: ((response: FakeResponse) => string | null) | null;

  private readonly client: grpc.Client;
  private readonly ownsClient: boolean;
  private readonly call: grpc.ClientDuplexStream<WireDiscoveryRequest, WireDiscoveryResponse>;
  private readonly types = new Map<string, TypeState>();
  private readonly waiters = new Set<() => void>();
  private readonly autoAck: boolean;
  private sentNode = false;
  private closedFlag = false;

  constructor(private readonly options: FakeXdsClientOptions) {
    this.autoAck = options.autoAck ?? true;
    this.nackIf = options.nackIf ?? null;
    if (options.client !== undefined) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const def = options.definition ?? loadAdsDefinition();
      this.client = new def.Client(options.target, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
      this.ownsClient = true;
    }
    const method = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<WireDiscoveryRequest, WireDiscoveryResponse>>)['StreamAggregatedResources']!;
    this.call = method.call(this.client);
    this.call.on('data', (resp: WireDiscoveryResponse) => this.onResponse(resp));
    this.call.on('status', (s: grpc.StatusObject) => {
      this.status = s;
      this.wake();
    });
    this.call.on('error', () => { /* reported through 'status' */ });
  }

  /**
   * Subscribes `typeUrl` to `names` (replacing the previous list; [] = legacy wildcard for LDS/CDS,
   * ['*'] = explicit wildcard). Carries the last nonce and ACKed version of that type, like a real
   * client changing its subscription.
   */
  subscribe(typeUrl: string, names: readonly string[]): void {
    const t = this.type(typeUrl);
    t.names = names.slice();
    this.write({ version_info: t.ackedVersion, resource_names: t.names, type_url: typeUrl, response_nonce: t.lastNonce, error_detail: null });
  }

  /** ACKs `response` (manual mode). */
  ack(response: FakeResponse): void {
    const t = this.type(response.typeUrl);
    t.ackedVersion = response.version;
    this.write({ version_info: response.version, resource_names: t.names, type_url: response.typeUrl, response_nonce: response.nonce, error_detail: null });
  }

  /** NACKs `response` with `message` in error_detail (keeps the previous ACKed version). */
  nack(response: FakeResponse, message: string): void {
    const t = this.type(response.typeUrl);
    this.write({
      version_info: t.ackedVersion,
      resource_names: t.names,
      type_url: response.typeUrl,
      response_nonce: response.nonce,
      error_detail: { code: grpc.status.INVALID_ARGUMENT, message },
    });
  }

  /** Writes an arbitrary request (node is added if this is the first). */
  sendRaw(req: Partial<Omit<WireDiscoveryRequest, 'node'>>): void {
    this.write({ version_info: '', resource_names: [], type_url: '', response_nonce: '', error_detail: null, ...req });
  }

  /** Latest response of `typeUrl`, or null. */
  latest(typeUrl: string): FakeResponse | null {
    for (let i = this.responses.length - 1; i >= 0; i--) if (this.responses[i]!.typeUrl === typeUrl) return this.responses[i]!;
    return null;
  }

  /** The version this client last ACKed for `typeUrl` ('' if none). */
  ackedVersion(typeUrl: string): string {
    return this.types.get(typeUrl)?.ackedVersion ?? '';
  }

  /**
   * Resolves with the first response at index ≥ `from` matching `pred`; rejects after `timeoutMs`
   * (default 5000) or when the stream ends first.
   */
  waitForResponse(pred: (r: FakeResponse) => boolean, from = 0, timeoutMs = 5000): Promise<FakeResponse> {
    return this.waitUntil(() => {
      for (let i = from; i < this.responses.length; i++) if (pred(this.responses[i]!)) return this.responses[i]!;
      return null;
    }, timeoutMs, 'an ADS response');
  }

  /** Resolves once the stream has ended (with its status). */
  waitForEnd(timeoutMs = 5000): Promise<grpc.StatusObject> {
    return this.waitUntil(() => this.status, timeoutMs, 'the end of the ADS stream', false);
  }

  /**
   * Resolves with `check()`'s first non-null value, re-checked after every stream event; with
   * `rejectOnEnd` (default) it rejects as soon as the stream ends without the value.
   */
  waitUntil<T>(check: () => T | null, timeoutMs: number, what: string, rejectOnEnd = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const first = check();
      if (first !== null) {
        resolve(first);
        return;
      }
      if (this.status !== null && rejectOnEnd) {
        reject(new Error(`ADS stream ended (${this.status.code} ${this.status.details}) before ${what}`));
        return;
      }
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (node ${this.options.node.id}, ${this.responses.length} responses)`));
      }, timeoutMs);
      timer.unref();
      const wake = (): void => {
        const v = check();
        if (v !== null) {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve(v);
        } else if (this.status !== null && rejectOnEnd) {
          // the stream ended: nothing more can arrive
          clearTimeout(timer);
          this.waiters.delete(wake);
          reject(new Error(`ADS stream ended (${this.status.code} ${this.status.details}) while waiting for ${what}`));
        }
      };
      this.waiters.add(wake);
    });
  }

  /** Half-closes and cancels the stream; closes the channel if this client created it. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.call.cancel();
    if (this.ownsClient) this.client.close();
  }

  private type(typeUrl: string): TypeState {
    let t = this.types.get(typeUrl);
    if (t === undefined) {
      t = { names: [], lastNonce: '', ackedVersion: '' };
      this.types.set(typeUrl, t);
    }
    return t;
  }

  private write(req: Omit<WireDiscoveryRequest, 'node'>): void {
    if (this.closedFlag) return;
    const full: WireDiscoveryRequest = { ...req, node: null };
    if (!this.sentNode) {
      this.sentNode = true;
      const n = this.options.node;
      full.node = {
        id: n.id,
        cluster: n.cluster ?? '',
        metadata: n.metadata !== undefined ? jsonToStruct(n.metadata) : null,
        locality: {},
        user_agent_name: 'remora-fake-xds-client',
        user_agent_version: '0',
      };
    }
    this.requests.push(full);
    this.call.write(full);
  }

  private onResponse(resp: WireDiscoveryResponse): void {
    const resources: FakeResource[] = [];
    const names: string[] = [];
    for (const any of resp.resources) {
      const value = Buffer.from(any.value);
      const name = readField1String(value);
      resources.push({ name, typeUrl: any.type_url, value });
      names.push(name);
    }
    const r: FakeResponse = { seq: this.responses.length, typeUrl: resp.type_url, version: resp.version_info, nonce: resp.nonce, resources, names };
    this.responses.push(r);
    this.type(r.typeUrl).lastNonce = r.nonce;
    if (this.autoAck) {
      const message = this.nackIf !== null ? this.nackIf(r) : null;
      if (message === null) this.ack(r);
      else this.nack(r, message);
    }
    this.wake();
  }

  private wake(): void {
    for (const w of Array.from(this.waiters)) w();
  }
}


// ------------------------------------------------------------------------- resource builders

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** An EDS cluster over ADS; `connectTimeoutS` varies its content. */
export function edsCluster(name: string, connectTimeoutS = 1): ProtoObject {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: { seconds: connectTimeoutS, nanos: 0 },
    lb_policy: 'ROUND_ROBIN',
  };
}

/** A CLA with one locality (weight 1) holding `endpoints` (`[address, port]` pairs). */
export function cla(clusterName: string, endpoints: ReadonlyArray<readonly [string, number]>): ProtoObject {
  return {
    cluster_name: clusterName,
    endpoints: [{
      locality: { region: 'test' },
      load_balancing_weight: { value: 1 },
      lb_endpoints: endpoints.map(([address, port]) => ({ endpoint: { address: { socket_address: { address, port_value: port } } } })),
    }],
  };
}

/** An api_listener (proxyless gRPC) whose HCM fetches `routeName` over ADS. */
export function apiListener(name: string, routeName: string): ProtoObject {
  return {
    name,
    api_listener: {
      api_listener: {
        '@type': HCM_TYPE,
        stat_prefix: name,
        rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: routeName },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
      },
    },
  };
}

/** A RouteConfiguration with one virtual host for `domains`, routing everything to weighted clusters. */
export function routeConfig(name: string, domains: readonly string[], clusters: ReadonlyArray<readonly [string, number]>): ProtoObject {
  const action = clusters.length === 1
    ? { cluster: clusters[0]![0] }
    : { weighted_clusters: { clusters: clusters.map(([c, w]) => ({ name: c, weight: { value: w } })) } };
  return {
    name,
    virtual_hosts: [{ name: `${name}-vh`, domains: domains.slice(), routes: [{ match: { prefix: '' }, route: action }] }],
  };
}

export interface SetSpec {
  readonly clusters?: readonly ProtoObject[];
  readonly endpoints?: readonly ProtoObject[];
  readonly listeners?: readonly ProtoObject[];
  readonly routes?: readonly ProtoObject[];
}

/** Builds a resource set; names come from `name` (or `cluster_name` for CLAs). */
export function resourceSet(spec: SetSpec): XdsResourceSet {
  const byType = new Map<XdsTypeUrl, Map<string, ProtoObject>>();
  const add = (url: XdsTypeUrl, list: readonly ProtoObject[] | undefined, key: string): void => {
    const m = new Map<string, ProtoObject>();
    for (const r of list ?? []) m.set(String(r[key]), r);
    byType.set(url, m);
  };
  add(TYPE_URL.CLUSTER, spec.clusters, 'name');
  add(TYPE_URL.ENDPOINT, spec.endpoints, 'cluster_name');
  add(TYPE_URL.LISTENER, spec.listeners, 'name');
  add(TYPE_URL.ROUTE, spec.routes, 'name');
  return { byType };
}
