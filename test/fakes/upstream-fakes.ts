/**
 * @internal Test support for cluster and cluster-manager unit tests: a quiet Runtime with a seeded
 * random, a ClusterModel builder with Envoy's defaults, and pool/TLS factories that record what
 * the cluster asked for instead of opening connections. Not used by production code.
 */
import { DEFAULT_CIRCUIT_BREAKERS, DEFAULT_RING_HASH } from '../../src/config/compile/cluster';
import type * as tls from 'node:tls';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Pool } from 'undici';
import { seededRandom, systemClock } from '../../src/core/clock';
import type { Runtime } from '../../src/core/runtime';
import { Timers } from '../../src/core/timers';
import type { ClusterModel, EndpointModel, UpstreamTlsModel } from '../../src/config/model';
import type { UpstreamFactories } from '../../src/upstream/cluster';
import type { H2Pool, H2PoolOptions } from '../../src/upstream/h2-pool';

export function testRuntime(seed = 1): Runtime {
  return {
    clock: systemClock,
    random: seededRandom(seed),
    timers: new Timers(),
    logger: pino({ level: 'silent' }),
    metrics: new Registry(),
    trace: new Set(),
  };
}

export function endpointModel(host: string, port: number, over: Partial<EndpointModel> = {}): EndpointModel {
  return { host, port, weight: 1, priority: 0, healthStatus: 'HEALTHY', metadata: null, ...over };
}

export function clusterModel(name: string, over: Partial<ClusterModel> = {}): ClusterModel {
  return {
    name,
    type: 'STATIC',
    connectTimeoutMs: 5000,
    lbPolicy: 'ROUND_ROBIN',
    leastRequestChoiceCount: 2,
    endpoints: [],
    edsServiceName: over.type === 'EDS' ? name : null,
    protocol: 'http2',
    http2MaxConcurrentStreams: 2147483647,
    http2InitialStreamWindowSize: 268435456,
    http2InitialConnectionWindowSize: 268435456,
    idleTimeoutMs: 3_600_000,
    maxRequestsPerConnection: null,
    tls: null,
    dnsRefreshRateMs: 5000,
    dnsLookupFamily: 'AUTO',
    leastRequestActiveRequestBias: 1,
    ringHash: DEFAULT_RING_HASH,
    healthyPanicThresholdPercent: 50,
    circuitBreakers: DEFAULT_CIRCUIT_BREAKERS,
    outlierDetection: null,
    healthChecks: [],
    ...over,
  };
}

export function upstreamTlsModel(): UpstreamTlsModel {
  return {
    certChain: null, privateKey: null, certificateSdsName: null, validationSdsName: null, trustedCa: null, sni: 'svc.local', matchSubjectAltNames: [],
    alpnProtocols: [], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', cipherSuites: null,
  };
}

export class FakeH2Pool {
  closeCalls = 0;
  destroyCalls = 0;
  constructor(readonly host: string, readonly port: number, readonly options: H2PoolOptions) {}
  request(): void { throw new Error('FakeH2Pool.request'); }
  stats() { return { sessions: 1, activeStreams: 0, pending: 0 }; }
  async close(): Promise<void> { this.closeCalls++; }
  destroy(): void { this.destroyCalls++; }
}

export class FakeH1Pool {
  closed = false;
  destroyed = false;
  closeCalls = 0;
  readonly stats = { connected: 2, free: 2, pending: 0, queued: 0, running: 0, size: 2 };
  constructor(readonly host: string, readonly port: number, readonly tls: tls.ConnectionOptions | null) {}
  async close(): Promise<void> { this.closeCalls++; this.closed = true; }
  async destroy(): Promise<void> { this.destroyed = true; }
}

/** Factories recording every pool and TLS build. */
export class RecordingFactories implements UpstreamFactories {
  readonly h2Pools: FakeH2Pool[] = [];
  readonly h1Pools: FakeH1Pool[] = [];
  readonly tlsBuilds: (readonly string[])[] = [];
  h2Pool(host: string, port: number, options: H2PoolOptions): H2Pool {
    const p = new FakeH2Pool(host, port, options);
    this.h2Pools.push(p);
    return p as unknown as H2Pool;
  }
  h1Pool(host: string, port: number, _model: ClusterModel, tlsOpts: tls.ConnectionOptions | null): Pool {
    const p = new FakeH1Pool(host, port, tlsOpts);
    this.h1Pools.push(p);
    return p as unknown as Pool;
  }
  tlsOptions(_model: UpstreamTlsModel, alpn: readonly string[]): tls.ConnectionOptions {
    this.tlsBuilds.push(alpn);
    return { ALPNProtocols: alpn.slice() };
  }
}
