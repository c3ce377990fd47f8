/**
 * The sidecar's xDS client metrics on the process registry, one label child per resource type
 * (short names: cds, eds, lds, rds, sds) bound at construction:
 * - `remora_xds_config_info{type,version}` = 1 for the version in force of each type (info-style: the
 *   previous version's child is removed when the version changes, so each type has one series);
 * - `remora_xds_acks_total{type}` / `remora_xds_nacks_total{type}`: requests sent that ACK / NACK a
 *   response (a NACK is a request carrying `error_detail`);
 * - `remora_xds_last_nack_timestamp_seconds{type}`: when the last NACK of a type was sent (Unix
 *   seconds; no series before the first NACK).
 * Families are get-or-create on the registry (the control plane's `remora_xds_nacks_total{type}`
 * has the same shape, for a process that hosts both). Called only per xDS response, never per request.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { XdsType } from './xds-resources';

type CounterChild = ReturnType<Counter<string>['labels']>;
type GaugeChild = ReturnType<Gauge<string>['labels']>;

export const XDS_CONFIG_INFO = 'remora_xds_config_info';
export const XDS_ACKS = 'remora_xds_acks_total';
export const XDS_NACKS = 'remora_xds_nacks_total';
export const XDS_LAST_NACK = 'remora_xds_last_nack_timestamp_seconds';

const TYPES: readonly XdsType[] = ['cds', 'eds', 'lds', 'rds', 'sds'];

class TypeChildren {
  readonly acks: CounterChild;
  readonly nacks: CounterChild;
  readonly lastNack: GaugeChild;
  /** The version whose `config_info` child exists, or null before the first accepted response. */
  version: string | null = null;

  constructor(m: XdsClientMetrics, readonly type: XdsType) {
    this.acks = m.acks.labels(type);
    this.nacks = m.nacks.labels(type);
    // Both counters exist from the start (0), so rates and "no NACK yet" read without gaps.
    this.acks.inc(0);
    this.nacks.inc(0);
    this.lastNack = m.lastNack.labels(type);
  }
}

/** Pre-bound xDS client metrics for one ADS client. */
export class XdsClientMetrics {
  readonly configInfo: Gauge<'type' | 'version'>;
  readonly acks: Counter<'type'>;
  readonly nacks: Counter<'type'>;
  readonly lastNack: Gauge<'type'>;
  private readonly byType: Map<XdsType, TypeChildren>;

  /** Config time: registers (or finds) the families on `registry` and binds the per-type children. */
  constructor(registry: Registry) {
    const registers = [registry];
    this.configInfo = (registry.getSingleMetric(XDS_CONFIG_INFO) as Gauge<'type' | 'version'> | undefined) ?? new Gauge({
      name: XDS_CONFIG_INFO, help: 'xDS config version in force per resource type (value 1; the version is a label).',
      labelNames: ['type', 'version'], registers,
    });
    this.acks = (registry.getSingleMetric(XDS_ACKS) as Counter<'type'> | undefined) ?? new Counter({
      name: XDS_ACKS, help: 'xDS responses ACKed by this client, by resource type.', labelNames: ['type'], registers,
    });
    this.nacks = (registry.getSingleMetric(XDS_NACKS) as Counter<'type'> | undefined) ?? new Counter({
      name: XDS_NACKS, help: 'xDS responses NACKed by this client (request with error_detail), by resource type.', labelNames: ['type'], registers,
    });
    this.lastNack = (registry.getSingleMetric(XDS_LAST_NACK) as Gauge<'type'> | undefined) ?? new Gauge({
      name: XDS_LAST_NACK, help: 'When this client last NACKed a response of the resource type (Unix seconds).', labelNames: ['type'], registers,
    });
    this.byType = new Map(TYPES.map((t) => [t, new TypeChildren(this, t)]));
  }

  /** One response of `type` was ACKed. */
  ack(type: XdsType): void {
    this.byType.get(type)!.acks.inc();
  }

  /** One response of `type` was NACKed at `nowMs` (epoch milliseconds). */
  nack(type: XdsType, nowMs: number): void {
    const c = this.byType.get(type)!;
    c.nacks.inc();
    c.lastNack.set(nowMs / 1000);
  }

  /** The version in force for `type` is now `version`: replaces the type's `config_info` series. */
  version(type: XdsType, version: string): void {
    const c = this.byType.get(type)!;
    if (c.version === version) return;
    if (c.version !== null) this.configInfo.remove(type, c.version);
    c.version = version;
    this.configInfo.labels(type, version).set(1);
  }

  /** Removes this client's `config_info` series (when the client closes for good). */
  clear(): void {
    for (const c of this.byType.values()) {
      if (c.version !== null) this.configInfo.remove(c.type, c.version);
      c.version = null;
    }
  }
}
