/**
 * STRICT_DNS endpoint discovery for one cluster: resolves every `load_assignment` host name with
 * `dns.promises.lookup(host, {all: true, family})`, every `dns_refresh_rate` (an unref'd timer armed
 * after each round completes, so rounds never overlap). Each resolved address inherits its
 * endpoint's port, weight, priority and health status. A host whose lookup fails keeps its last
 * good addresses (Envoy keeps the previous host set), and the failure is logged. After every round,
 * including a first round that failed entirely, the result is handed to the sink; the cluster is
 * then warm, as Envoy initialises a STRICT_DNS cluster after its first resolution attempt.
 * `dns_lookup_family`: V4_ONLY / V6_ONLY restrict the family; AUTO and V4_PREFERRED use the IPv4
 * results when there are any, else the IPv6 ones; ALL uses both.
 */
import * as dns from 'node:dns';
import type { Logger } from 'pino';
import type { ClusterModel, EndpointModel } from '../config/model';

export type DnsLookupFamily = ClusterModel['dnsLookupFamily'];

export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** The shape of `dns.promises.lookup` with `all: true`; injectable for tests. */
export type LookupFn = (hostname: string, options: { all: true; family: 0 | 4 | 6 }) => Promise<LookupAddress[]>;

/** What the resolver reports to after each round (implemented by Cluster; no closures). */
export interface DnsResolverSink {
  /**
   * Called once per completed round with the full resolved endpoint set (last good addresses of
   * hosts that failed this round included) and the number of hosts whose lookup failed.
   */
  onDnsResolved(endpoints: readonly EndpointModel[], failures: number): void;
}

export interface DnsResolverOptions {
  readonly refreshRateMs: number;
  readonly family: DnsLookupFamily;
  /** Defaults to `dns.promises.lookup`. */
  readonly lookup?: LookupFn;
}

const defaultLookup: LookupFn = (hostname, options) => dns.promises.lookup(hostname, options);

export class DnsResolver {
  private readonly targets: readonly EndpointModel[];
  /** Last good addresses per target (same index); null until that target first resolved. */
  private readonly lastGood: (EndpointModel[] | null)[];
  private readonly lookup: LookupFn;
  private readonly lookupFamily: 0 | 4 | 6;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  /** Completed rounds (for admin and tests). */
  rounds = 0;

  constructor(
    targets: readonly EndpointModel[],
    private readonly options: DnsResolverOptions,
    private readonly sink: DnsResolverSink,
    private readonly logger: Logger,
  ) {
    this.targets = targets;
    this.lastGood = targets.map(() => null);
    this.lookup = options.lookup ?? defaultLookup;
    this.lookupFamily = options.family === 'V4_ONLY' ? 4 : options.family === 'V6_ONLY' ? 6 : 0;
  }

  /** Starts the first round now; later rounds follow every `refreshRateMs`. Idempotent. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.round();
  }

  /** Stops refreshing; a round in flight completes but is not reported. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** @internal One resolution round; reports to the sink and arms the next one. Never rejects. */
  async round(): Promise<void> {
    this.timer = null;
    const results = await Promise.allSettled(this.targets.map((t) => this.lookup(t.host, { all: true, family: this.lookupFamily })));
    if (this.stopped) return;
    let failures = 0;
    const out: EndpointModel[] = [];
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[i];
      const r = results[i];
      if (r.status === 'fulfilled' && r.value.length > 0) {
        this.lastGood[i] = toEndpoints(target, selectFamily(r.value, this.options.family));
      } else {
        failures++;
        const reason = r.status === 'rejected' ? r.reason : new Error('no addresses');
        this.logger.warn({ host: target.host, err: reason }, 'DNS resolution failed; keeping the last good addresses');
      }
      const good = this.lastGood[i];
      if (good !== null) for (let j = 0; j < good.length; j++) out.push(good[j]);
    }
    this.rounds++;
    this.sink.onDnsResolved(out, failures);
    if (this.stopped) return;
    this.timer = setTimeout(runRound, Math.max(1, this.options.refreshRateMs), this);
    this.timer.unref();
  }
}

function runRound(r: DnsResolver): void { void r.round(); }

/** Applies the lookup-family preference to one host's results (AUTO/V4_PREFERRED: v4 when present). */
export function selectFamily(addrs: readonly LookupAddress[], family: DnsLookupFamily): LookupAddress[] {
  if (family === 'AUTO' || family === 'V4_PREFERRED') {
    const v4 = addrs.filter((a) => a.family === 4);
    return v4.length > 0 ? v4 : addrs.slice();
  }
  if (family === 'V4_ONLY') return addrs.filter((a) => a.family === 4);
  if (family === 'V6_ONLY') return addrs.filter((a) => a.family === 6);
  return addrs.slice();
}

function toEndpoints(target: EndpointModel, addrs: readonly LookupAddress[]): EndpointModel[] {
  return addrs.map((a) => ({
    host: a.address,
    port: target.port,
    weight: target.weight,
    priority: target.priority,
    healthStatus: target.healthStatus,
    metadata: target.metadata,
  }));
}
