/**
 * A mesh slice for certificate-rotation tests, all real sockets on 127.0.0.1:0: the mesh CA (S1's
 * `MeshCa` behind its gRPC `CaServer`, bootstrap-token authentication), an ADS server (the real
 * `AdsServer`) serving the sidecar an outbound h2c listener, one cluster that originates mTLS with
 * the SDS secrets `default` (the workload certificate) and `ROOTCA` (+ a SPIFFE SAN match on the
 * server), and the `ROOTCA` trust bundle as an SDS Secret; a sidecar (in-process, `Sidecar.start`
 * with a workload identity towards the CA); and an HTTP/2 mTLS upstream that requires a client
 * certificate from the mesh and answers with the serial of the certificate it saw. `runLoad()`
 * drives continuous calls and counts failures; `rotateRootDuringLoad()` performs a root rotation
 * with overlap (trust old+new, sign with new, re-issue the server, retire old). TTL, duration and
 * concurrency are parameters so one rig serves the short test and the 60-second one.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { AdsServer } from '../../src/control-plane/server/ads-server';
import { loadAdsDefinition } from '../../src/control-plane/server/ads-proto';
import { TYPE_URL, type XdsResourceSet, type XdsTypeUrl } from '../../src/control-plane/cache/resources';
import type { ProtoObject } from '../../src/config/compile/proto-json';
import { CaServer } from '../../src/control-plane/ca/ca-service';
import { TokenFileAuthenticator } from '../../src/control-plane/ca/ca-authenticator';
import { MeshCa, createSelfSignedRoot } from '../../src/control-plane/ca/mesh-ca';
import { systemClock } from '../../src/core/clock';
import { createRuntime } from '../../src/core/runtime';
import { Sidecar } from '../../src/sidecar/sidecar';
import { splitPemCertificates } from '../../src/transport/identity/pem';
import { buildAdsBootstrap } from '../../src/xds/ads-bootstrap';
import { loadEnvoyProtos } from '../../src/xds/protos';
import { HCM_TYPE, ROUTER_TYPE } from './fake-xds-client';
import { waitFor } from './wait';

const TRUST_DOMAIN = 'cluster.local';
const CLIENT = { namespace: 'frontend', serviceAccount: 'client' };
const SERVER = { namespace: 'backend', serviceAccount: 'server' };
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const ADS = { ads: {}, resource_api_version: 'V3' };
const TOKEN = 'frontend-client-bootstrap-token-0123456789';

export interface RotationRigOptions {
  /** Requested workload certificate lifetime. */
  readonly ttlMs: number;
  readonly rotateFraction?: number;
  /** Upstream requests per connection before the sidecar opens a new one (new handshakes → new certificates). */
  readonly maxRequestsPerConnection?: number;
}

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  /** The first few failure messages. */
  readonly errors: string[];
}

export class RotationRig {
  /** Serials of client certificates the upstream saw (one per handshake at most). */
  readonly clientSerials = new Set<string>();
  private upstreamCert: { cert: string; key: string };

  private constructor(
    readonly ca: MeshCa,
    private readonly caServer: CaServer,
    private readonly ads: AdsServer,
    readonly upstream: http2.Http2SecureServer,
    readonly sidecar: Sidecar,
    private readonly dir: string,
  ) {
    this.upstreamCert = { cert: '', key: '' };
  }

  static async start(o: RotationRigOptions): Promise<RotationRig> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-rotation-'));
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, TOKEN + '\n');
    const ca = MeshCa.createSelfSigned({ trustDomain: TRUST_DOMAIN, clock: systemClock });
    const caServer = await CaServer.start({ ca, authenticator: new TokenFileAuthenticator({ [TOKEN]: CLIENT }), transport: 'insecure' });

    // The mTLS upstream: requires a client certificate chaining to the mesh roots.
    const serving = ca.issueWithNewKey(SERVER, { ipAddresses: ['127.0.0.1'] });
    const rig: { current: RotationRig | null } = { current: null };
    const upstream = http2.createSecureServer({
      cert: serving.certChainPem[0], key: serving.keyPem, ca: ca.trustBundlePem(),
      requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'],
    }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      const serial = peer?.serialNumber ?? '';
      rig.current?.clientSerials.add(serial);
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(serial); });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;

    const root = loadEnvoyProtos();
    let bundle = (): string => ca.trustBundlePem();
    const snapshot = (): XdsResourceSet => resources(upstreamPort, bundle(), o.maxRequestsPerConnection ?? 20);
    const ads = new AdsServer({ root, provider: () => snapshot(), port: 0, adsDefinition: loadAdsDefinition() });
    const adsPort = await ads.start();

    const runtime = createRuntime({ logLevel: 'silent' });
    const bootstrapJson = buildAdsBootstrap({
      xds: `127.0.0.1:${adsPort}`, nodeId: 'frontend-1', workload: 'frontend', ...CLIENT, adminPort: 0, outboundPort: 0, inboundPort: 0,
    });
    const sidecar = await Sidecar.start({
      bootstrapJson, runtime, protos: root, xdsBackoffBaseMs: 50, drainTimeMs: 500,
      identity: { caAddress: caServer.address, caTokenFile: tokenFile, trustDomain: TRUST_DOMAIN, certTtlMs: o.ttlMs, rotateFraction: o.rotateFraction ?? 0.5, retryBaseMs: 100, retryMaxMs: 1000 },
    });
    const r = new RotationRig(ca, caServer, ads, upstream, sidecar, dir);
    r.upstreamCert = { cert: serving.certChainPem[0]!, key: serving.keyPem };
    rig.current = r;
    bundle = () => r.ca.trustBundlePem();
    await waitFor(() => sidecar.isReady(), { timeoutMs: 15_000, what: 'sidecar ready (config + certificate)' });
    return r;
  }

  /** The outbound listener port. */
  get port(): number { return this.sidecar.listenerPort('outbound'); }

  /**
   * Runs `concurrency` loops of calls through the sidecar for `durationMs` over one h2c connection;
   * `during` runs concurrently (e.g. a root rotation) and the calls go on until it has finished too.
   * Every call must get 200 with a serial.
   */
  async runLoad(durationMs: number, concurrency: number, during: (() => Promise<void>) | null = null): Promise<LoadResult> {
    const session = http2.connect(`http://127.0.0.1:${this.port}`);
    session.on('error', () => {});
    let ok = 0;
    let failed = 0;
    const errors: string[] = [];
    const deadline = performance.now() + durationMs;
    const call = (): Promise<void> => new Promise((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/call', 'content-type': 'text/plain' });
      let status = 0;
      let body = '';
      req.on('response', (h) => { status = Number(h[':status']); });
      req.setEncoding('utf8');
      req.on('data', (d: string) => { body += d; });
      req.on('end', () => {
        if (status === 200 && body.length > 0) ok++;
        else {
          failed++;
          if (errors.length < 5) errors.push(`status ${status}: ${body.slice(0, 200)}`);
        }
        resolve();
      });
      req.on('error', (err) => {
        failed++;
        if (errors.length < 5) errors.push(err.message);
        resolve();
      });
      req.end('ping');
    });
    let duringDone = during === null;
    const loop = async (): Promise<void> => {
      while (performance.now() < deadline || !duringDone) await call();
    };
    const loops: Promise<void>[] = [];
    if (during !== null) loops.push(during().finally(() => { duringDone = true; }));
    for (let i = 0; i < concurrency; i++) loops.push(loop());
    await Promise.all(loops);
    await new Promise<void>((resolve) => session.close(() => resolve()));
    return { ok, failed, errors };
  }

  /** Number of roots in the sidecar's effective ROOTCA bundle. */
  sidecarRootCount(): number {
    const s = this.sidecar.secrets.get('ROOTCA');
    return s === null || s.validationContext === null ? 0 : splitPemCertificates(s.validationContext.trustedCa).length;
  }

  /** Whether the sidecar's current workload certificate was signed by `rootPem`. */
  sidecarSignedBy(rootPem: string): boolean {
    const cur = this.sidecar.workloadIdentity?.current() ?? null;
    if (cur === null) return false;
    return new X509Certificate(splitPemCertificates(cur.certChain)[0]!).verify(new X509Certificate(rootPem).publicKey);
  }

  /**
   * Root rotation with overlap: (1) the CA trusts a new root; the SDS bundle and the upstream trust
   * old+new; (2) the CA signs with the new root and the sidecar's next renewal chains to it; (3) the
   * upstream's server certificate is re-issued from the new root; (4) the old root is retired
   * everywhere. Each step waits for the sidecar to have picked up the previous one.
   */
  async rotateRoot(): Promise<void> {
    const oldRoot = this.ca.activeRootPem();
    const oldFp = new X509Certificate(oldRoot).fingerprint256;
    const next = createSelfSignedRoot({ trustDomain: TRUST_DOMAIN, keyType: 'ec', ttlMs: 24 * 3600_000, clock: systemClock });
    this.ca.addRoot(next);
    this.upstream.setSecureContext(this.upstreamContext());
    this.ads.notify();
    await waitFor(() => this.sidecarRootCount() === 2, { timeoutMs: 10_000, what: 'sidecar ROOTCA holds old+new roots' });
    this.ca.activateRoot(next.cert.fingerprint256);
    await waitFor(() => this.sidecarSignedBy(next.certPem), { timeoutMs: 20_000, what: 'sidecar certificate signed by the new root' });
    const serving = this.ca.issueWithNewKey(SERVER, { ipAddresses: ['127.0.0.1'] });
    this.upstreamCert = { cert: serving.certChainPem[0]!, key: serving.keyPem };
    this.upstream.setSecureContext(this.upstreamContext());
    this.ca.retireRoot(oldFp);
    this.upstream.setSecureContext(this.upstreamContext());
    this.ads.notify();
    await waitFor(() => this.sidecarRootCount() === 1, { timeoutMs: 10_000, what: 'sidecar ROOTCA holds only the new root' });
  }

  private upstreamContext(): import('node:tls').SecureContextOptions {
    return { cert: this.upstreamCert.cert, key: this.upstreamCert.key, ca: this.ca.trustBundlePem(), minVersion: 'TLSv1.3' };
  }

  async close(): Promise<void> {
    await this.sidecar.close();
    await this.ads.stop();
    await this.caServer.close(200);
    await new Promise<void>((resolve) => {
      this.upstream.close(() => resolve());
      // Sessions the sidecar left open would keep close() waiting.
      setTimeout(resolve, 1000).unref();
    });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function resources(upstreamPort: number, bundle: string, maxRequestsPerConnection: number): XdsResourceSet {
  const listener: ProtoObject = {
    name: 'outbound',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': HCM_TYPE, stat_prefix: 'outbound', codec_type: 'AUTO',
          rds: { config_source: ADS, route_config_name: 'outbound-routes' },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
        },
      }],
    }],
  };
  const route: ProtoObject = {
    name: 'outbound-routes',
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'mesh-upstream' } }] }],
  };
  const cluster: ProtoObject = {
    name: 'mesh-upstream',
    type: 'STATIC',
    connect_timeout: { seconds: 2, nanos: 0 },
    load_assignment: { cluster_name: 'mesh-upstream', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } }] }] },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: {
        '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`,
        explicit_http_config: { http2_protocol_options: {} },
        common_http_protocol_options: { max_requests_per_connection: { value: maxRequestsPerConnection } },
      },
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': UPSTREAM_TLS,
        common_tls_context: {
          alpn_protocols: ['h2'],
          tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: ADS }],
          combined_validation_context: {
            default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: `spiffe://${TRUST_DOMAIN}/ns/${SERVER.namespace}/sa/${SERVER.serviceAccount}` } }] },
            validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: ADS },
          },
        },
      },
    },
  };
  const secret: ProtoObject = { name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: bundle } } };
  const byType = new Map<XdsTypeUrl, Map<string, ProtoObject>>([
    [TYPE_URL.CLUSTER, new Map([['mesh-upstream', cluster]])],
    [TYPE_URL.ENDPOINT, new Map()],
    [TYPE_URL.LISTENER, new Map([['outbound', listener]])],
    [TYPE_URL.ROUTE, new Map([['outbound-routes', route]])],
    [TYPE_URL.SECRET, new Map([['ROOTCA', secret]])],
  ]);
  return { byType };
}
