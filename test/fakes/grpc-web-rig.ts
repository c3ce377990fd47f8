/**
 * A listener composed like the sidecar's (compiled from an Envoy bootstrap, HttpConnectionManager
 * + Listener on 127.0.0.1:0) but with an ExtensionRegistry that includes the gRPC-Web and CORS
 * filters, for the gRPC-Web e2e and browser tests until they are in `defaultExtensionRegistry()`.
 * Also: hand-encoding of the Echo message and gRPC-Web bodies for HTTP/1.1 clients.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRuntime } from '../../src/core/runtime';
import { compileBootstrap } from '../../src/config/compile/bootstrap';
import { BOOTSTRAP_TYPE } from '../../src/config/compile/load-bootstrap';
import { parseProtoJson } from '../../src/config/compile/proto-json';
import { encodeGrpcFrame, GrpcFrameDecoder, FLAG_TRAILERS } from '../../src/codec/grpc/frame-decoder';
import type { HttpFilterFactory } from '../../src/filters/filter';
import { defaultExtensionRegistry, type ExtensionRegistry } from '../../src/filters/registry';
import { DEFAULT_REPLAY_BUFFER_BYTES } from '../../src/filters/router/router-call';
import { grpcWebFilter } from '../../src/filters/grpc-web/config';
import { corsFilter } from '../../src/filters/cors/config';
import { parseTrailerBlock } from '../../src/filters/grpc-web/trailer-frame';
import { HttpConnectionManager } from '../../src/listeners/connection-manager';
import { Listener } from '../../src/listeners/listener';
import { SidecarMetrics } from '../../src/observability/metrics';
import { RouteTable } from '../../src/routing/route-table';
import { ClusterManager } from '../../src/upstream/cluster-manager';
import { loadEnvoyProtos } from '../../src/xds/protos';

type Json = Record<string, unknown>;

/** The default registry plus grpc_web and cors (registering twice is harmless). */
export function browserRegistry(): ExtensionRegistry {
  return defaultExtensionRegistry().register(grpcWebFilter).register(corsFilter);
}

export class BrowserFilterListener {
  private constructor(readonly listener: Listener, private readonly clusters: ClusterManager, readonly metrics: SidecarMetrics) {}

  /** Compiles `bootstrap` (one listener) and starts it. */
  static async start(bootstrap: Json): Promise<BrowserFilterListener> {
    const registry = browserRegistry();
    const proto = parseProtoJson(loadEnvoyProtos(), BOOTSTRAP_TYPE, bootstrap, '');
    assert.ok(proto.ok, JSON.stringify(!proto.ok && proto.errors));
    const r = compileBootstrap(proto.value, { filters: registry, readFile: (p) => readFileSync(p) });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const model = r.value.listeners[0]!;
    const runtime = createRuntime({ logLevel: 'silent' });
    const clusters = new ClusterManager(runtime);
    clusters.update(r.value.clusters);
    const metrics = new SidecarMetrics(runtime.metrics, false);
    const stats = metrics.forListener(model.name);
    const table = RouteTable.compile(model.hcm.routeConfig!, { stripAnyHostPort: false });
    const factories: HttpFilterFactory[] = [];
    for (const f of model.hcm.httpFilters) {
      const factory = registry.get(f.typeUrl)?.createFactory(f.config, { runtime, listenerName: model.name, filterName: f.name }) ?? null;
      if (factory !== null) factories.push(factory);
    }
    const deps = { runtime, clusters, clusterStats: (n: string) => metrics.forCluster(n), replayBufferBytes: DEFAULT_REPLAY_BUFFER_BYTES };
    const hcm = new HttpConnectionManager(model.hcm, table, factories, deps, stats, runtime);
    const listener = new Listener(model, hcm, stats, { h2MaxSessionMemoryMb: 10, logger: runtime.logger, secrets: null, onConnectionRejected: () => {} });
    await listener.listen();
    return new BrowserFilterListener(listener, clusters, metrics);
  }

  get port(): number { return this.listener.address()!.port; }

  async close(): Promise<void> {
    this.listener.destroy();
    await this.clusters.close();
  }
}

// ---------------------------------------------------------------- Echo message by hand

/** remora.test.v1.EchoMessage {message = 1 (string), count = 3 (int32)} in protobuf binary. */
export function encodeEcho(message: string, count = 0): Buffer {
  const m = Buffer.from(message, 'utf8');
  const parts: number[] = [];
  if (m.length > 0) {
    parts.push(0x0a, ...varint(m.length), ...m);
  }
  if (count > 0) parts.push(0x18, ...varint(count));
  return Buffer.from(parts);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** Decodes the fields of an EchoMessage this test uses. */
export function decodeEcho(b: Buffer): { message: string; count: number } {
  let i = 0;
  let message = '';
  let count = 0;
  const readVarint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[i++]!;
      v |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return v;
      shift += 7;
    }
  };
  while (i < b.length) {
    const tag = readVarint();
    const field = tag >> 3;
    const wire = tag & 7;
    if (wire === 2) {
      const len = readVarint();
      if (field === 1) message = b.subarray(i, i + len).toString('utf8');
      i += len;
    } else if (wire === 0) {
      const v = readVarint();
      if (field === 3) count = v;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return { message, count };
}

/** A gRPC-Web response body split into messages and trailers. */
export interface GrpcWebReply {
  readonly messages: Buffer[];
  readonly trailers: Record<string, string>;
  /** Whether the trailer frame was the last frame. */
  readonly trailersLast: boolean;
}

/** Parses a binary gRPC-Web body (for -text, base64-decode first, segment by segment). */
export function parseGrpcWebBody(body: Buffer): GrpcWebReply {
  const frames = new GrpcFrameDecoder(1 << 24).push(body);
  const messages: Buffer[] = [];
  let trailers: Record<string, string> = {};
  let trailersAt = -1;
  frames.forEach((f, i) => {
    if ((f.flags & FLAG_TRAILERS) !== 0) {
      trailers = parseTrailerBlock(f.message);
      trailersAt = i;
    } else {
      messages.push(Buffer.from(f.message));
    }
  });
  return { messages, trailers, trailersLast: trailersAt === frames.length - 1 };
}

/** One request message as a gRPC-Web body (binary). */
export function grpcWebRequest(message: Buffer): Buffer {
  return encodeGrpcFrame(message);
}
