/**
 * The xDS benchmark's load process (forked by `bench/xds/run.ts` with an IPC channel): opens N
 * lightweight SotW ADS streams to the control plane and behaves like a sidecar on each. Stream `s`
 * has node id `bench-sidecar-<s>` and the metadata of identity `s % identities` (mesh-gen's
 * `identityMetadata`: WORKLOAD_NAME/NAMESPACE/APP_PORTS/EGRESS_HOSTS), so the control plane
 * translates once per identity and shares the snapshot. Each stream subscribes wildcard LDS and
 * CDS, then RDS to the route configs its listeners use (`outbound`, plus `inbound` when it has an
 * inbound listener) and EDS to its EDS clusters (`outbound|…`), and ACKs every response at once.
 * Streams are spread over connections of `--per-channel` streams each (separate TCP connections).
 * The transport is node:http2 with gRPC framing written here (`GrpcFrameDecoder`/`encodeGrpcFrame`),
 * not a grpc-js channel: the load shares the control plane's two cores, and grpc-js's client call
 * stack (retrying call, subchannel call, interceptors) cost more CPU per message than the control
 * plane's own push, so it was measuring the load generator. For the same reason responses are read
 * and ACKs written by `ads-client-codec.ts` (only the fields an ACK needs); the first request, which
 * carries the node, uses the ADS service's proto-loader serializer.
 *
 * IPC protocol (wall-clock ms = performance.timeOrigin + performance.now()):
 *   → {type:'progress', open, synced}                 every second while connecting;
 *   → {type:'synced', streams, ms}                    once every stream ACKed LDS, CDS, RDS and EDS;
 *   ← {type:'arm', round}  → {type:'armed', round}    each stream notes its ACKed RDS version;
 *   → {type:'round-done', round, ackAt: number[]}     once every stream ACKed a different RDS
 *                                                     version: when each wrote that ACK;
 *   → {type:'ended', streams}                         if streams end (server gone, errors);
 *   ← {type:'stop'}                                   closes everything and exits.
 */
import * as http2 from 'node:http2';
import { loadAdsDefinition, jsonToStruct, type AdsDefinition, type WireDiscoveryRequest } from '../../src/control-plane/server/ads-proto';
import { encodeGrpcFrame, GrpcFrameDecoder } from '../../src/codec/grpc/frame-decoder';
import { TYPE_URL } from '../../src/control-plane/cache/resources';
import { readField1String } from '../../src/xds/xds-resources';
import { AckWriter, readResponse, type LeanResponse } from './ads-client-codec';
import { identityMetadata } from './mesh-gen';
import { arg } from '../argv';

const LDS = TYPE_URL.LISTENER;
const CDS = TYPE_URL.CLUSTER;
const RDS = TYPE_URL.ROUTE;
const EDS = TYPE_URL.ENDPOINT;

function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function send(msg: unknown): void {
  if (process.send !== undefined && process.connected) process.send(msg);
}

/** The ADS method's path and its request serializer (for the first request, with the node). */
interface AdsCodec {
  readonly path: string;
  readonly serialize: (r: WireDiscoveryRequest) => Buffer;
}

function adsCodec(def: AdsDefinition): AdsCodec {
  const m = def.service['StreamAggregatedResources']!;
  return { path: m.path, serialize: m.requestSerialize as (r: WireDiscoveryRequest) => Buffer };
}

/** Per-type protocol state of one stream. */
class TypeState {
  private subscribed: string[] = [];
  nonce = '';
  acked = '';
  ackedOnce = false;
  readonly ack: AckWriter;

  constructor(typeUrl: string) {
    this.ack = new AckWriter(typeUrl);
  }

  get names(): string[] {
    return this.subscribed;
  }

  set names(names: string[]) {
    this.subscribed = names;
    this.ack.setNames(names);
  }
}

/** One sidecar-like ADS stream. */
class BenchStream {
  readonly lds = new TypeState(LDS);
  readonly cds = new TypeState(CDS);
  readonly rds = new TypeState(RDS);
  readonly eds = new TypeState(EDS);
  sentNode = false;
  synced = false;
  ended = false;
  /** RDS version ACKed when the current round was armed. */
  baseline = '';
  /** Wall-clock ms of the ACK of a new RDS version in the current round; 0 = not yet. */
  ackAt = 0;
  readonly call: http2.ClientHttp2Stream;
  private readonly frames = new GrpcFrameDecoder(Number.MAX_SAFE_INTEGER);

  constructor(
    readonly index: number,
    session: http2.ClientHttp2Session,
    private readonly codec: AdsCodec,
    private readonly node: Record<string, unknown>,
    private readonly owner: Load,
  ) {
    this.call = session.request({ ':method': 'POST', ':path': codec.path, 'content-type': 'application/grpc', te: 'trailers' });
    this.call.on('data', (chunk: Buffer) => {
      const frames = this.frames.push(chunk);
      for (let i = 0; i < frames.length; i++) this.onResponse(readResponse(frames[i]!.message));
    });
    this.call.on('error', () => { /* reported via close */ });
    this.call.on('close', () => {
      if (!this.ended) {
        this.ended = true;
        this.owner.onEnded();
      }
    });
    this.request(LDS, this.lds);
    this.request(CDS, this.cds);
  }

  private state(typeUrl: string): TypeState | null {
    if (typeUrl === LDS) return this.lds;
    if (typeUrl === CDS) return this.cds;
    if (typeUrl === RDS) return this.rds;
    if (typeUrl === EDS) return this.eds;
    return null;
  }

  private request(typeUrl: string, t: TypeState): void {
    if (this.sentNode) {
      this.call.write(t.ack.frame(t.acked, t.nonce));
      return;
    }
    this.sentNode = true;
    const node = { id: `bench-sidecar-${this.index}`, cluster: 'bench', metadata: jsonToStruct(this.node), locality: {}, user_agent_name: 'remora-bench-xds', user_agent_version: '0' };
    const req: WireDiscoveryRequest = { version_info: t.acked, node, resource_names: t.names, type_url: typeUrl, response_nonce: t.nonce, error_detail: null };
    this.call.write(encodeGrpcFrame(this.codec.serialize(req)));
  }

  private onResponse(r: LeanResponse): void {
    const t = this.state(r.typeUrl);
    if (t === null) return;
    t.nonce = r.nonce;
    t.acked = r.version;
    t.ackedOnce = true;
    this.request(r.typeUrl, t); // the ACK
    if (r.typeUrl === RDS && this.baseline !== '' && this.ackAt === 0 && r.version !== this.baseline) {
      this.ackAt = wallNow();
      this.owner.onRoundAck();
    }
    // Only listener and cluster names decide the RDS/EDS subscriptions.
    if (r.typeUrl === LDS) {
      const want = ['outbound'];
      if (resourceNames(r).includes('inbound')) want.push('inbound');
      if (!sameList(want, this.rds.names)) {
        this.rds.names = want;
        this.request(RDS, this.rds);
      }
    } else if (r.typeUrl === CDS) {
      const want = resourceNames(r).filter((n) => n.startsWith('outbound|')).sort();
      if (!sameList(want, this.eds.names)) {
        this.eds.names = want;
        this.request(EDS, this.eds);
      }
    }
    if (!this.synced && this.lds.ackedOnce && this.cds.ackedOnce && this.rds.ackedOnce && (this.eds.ackedOnce || this.eds.names.length === 0)) {
      this.synced = true;
      this.owner.onSynced();
    }
  }
}

function resourceNames(r: LeanResponse): string[] {
  const names: string[] = [];
  for (let i = 0; i < r.resources.length; i++) names.push(readField1String(r.resources[i]!));
  return names;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** All streams of this process. */
class Load {
  readonly streams: BenchStream[] = [];
  readonly sessions: http2.ClientHttp2Session[] = [];
  synced = 0;
  ended = 0;
  round = -1;
  pending = 0;
  private readonly started = performance.now();
  private syncReported = false;

  constructor(readonly total: number) {}

  onSynced(): void {
    this.synced++;
    if (!this.syncReported && this.synced === this.total) {
      this.syncReported = true;
      send({ type: 'synced', streams: this.total, ms: performance.now() - this.started });
    }
  }

  onEnded(): void {
    this.ended++;
    if (this.ended === 1 || this.ended === this.total) send({ type: 'ended', streams: this.ended });
  }

  arm(round: number): void {
    this.round = round;
    this.pending = this.streams.length;
    for (let i = 0; i < this.streams.length; i++) {
      const s = this.streams[i]!;
      s.baseline = s.rds.acked === '' ? '<none>' : s.rds.acked;
      s.ackAt = 0;
    }
    send({ type: 'armed', round });
  }

  onRoundAck(): void {
    this.pending--;
    if (this.pending === 0) {
      const ackAt = new Array<number>(this.streams.length);
      for (let i = 0; i < this.streams.length; i++) {
        ackAt[i] = this.streams[i]!.ackAt;
        this.streams[i]!.baseline = '';
      }
      send({ type: 'round-done', round: this.round, ackAt });
    }
  }

  close(): void {
    for (const s of this.streams) s.call.close(http2.constants.NGHTTP2_CANCEL);
    for (const c of this.sessions) c.destroy();
  }
}

async function main(): Promise<void> {
  const target = arg('--target', '');
  const total = Number(arg('--streams', '100'));
  const identities = Number(arg('--identities', '10'));
  const services = Number(arg('--services', '1000'));
  const perChannel = Number(arg('--per-channel', '100'));
  const batch = Number(arg('--batch', '200'));
  if (target === '') throw new Error('--target is required');
  const codec = adsCodec(loadAdsDefinition());
  const metas: Record<string, unknown>[] = [];
  for (let k = 0; k < identities; k++) metas.push(identityMetadata(k, services));
  const load = new Load(total);
  process.on('message', (m: { type?: string; round?: number }) => {
    if (m?.type === 'arm') load.arm(m.round ?? 0);
    else if (m?.type === 'stop') {
      load.close();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
  process.on('disconnect', () => {
    load.close();
    process.exit(0);
  });
  // An orderly exit (not the default SIGTERM death), so `--cpu-prof` (REMORA_BENCH_LOAD_PROF) is written.
  process.on('SIGTERM', () => process.exit(0));
  const progress = setInterval(() => send({ type: 'progress', open: load.streams.length, synced: load.synced }), 1000);
  progress.unref();
  let session: http2.ClientHttp2Session | null = null;
  for (let s = 0; s < total; s++) {
    if (s % perChannel === 0) {
      // One TCP connection per `perChannel` streams; windows as large as grpc-js's client asks for.
      session = http2.connect(`http://${target}`, { settings: { initialWindowSize: 1 << 30, enablePush: false }, peerMaxConcurrentStreams: perChannel + 1 });
      session.on('connect', function (this: http2.ClientHttp2Session) { this.setLocalWindowSize(1 << 30); });
      session.on('error', () => { /* streams report through close */ });
      load.sessions.push(session);
    }
    load.streams.push(new BenchStream(s, session!, codec, metas[s % identities]!, load));
    if ((s + 1) % batch === 0) await new Promise((r) => setImmediate(r));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`clients-proc: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
