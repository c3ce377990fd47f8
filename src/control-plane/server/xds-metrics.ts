/**
 * The ADS server's Prometheus metrics, registered on a Registry passed in (never the global one):
 * `remora_xds_connected_streams` (gauge), `remora_xds_pushes_total{type}` (responses sent),
 * `remora_xds_nacks_total{type}` and `remora_xds_push_ack_latency_seconds{type}` (histogram from a
 * response to its ACK). Label values are the short type names (cds, eds, lds, rds, sds). The secure
 * port adds `remora_xds_streams_rejected_total` (client certificate without a usable identity) and
 * `remora_xds_identity_overrides_total` (node metadata claiming another identity than its certificate).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class XdsMetrics {
  readonly connectedStreams: Gauge;
  readonly pushes: Counter<'type'>;
  readonly nacks: Counter<'type'>;
  readonly pushAckLatency: Histogram<'type'>;
  readonly streamsRejected: Counter;
  readonly identityOverrides: Counter;

  /** Registers the metrics on `registry`; throws if they are already registered there. */
  constructor(registry: Registry) {
    this.connectedStreams = new Gauge({
      name: 'remora_xds_connected_streams',
      help: 'Open ADS streams',
      registers: [registry],
    });
    this.pushes = new Counter({
      name: 'remora_xds_pushes_total',
      help: 'DiscoveryResponses sent, by resource type',
      labelNames: ['type'],
      registers: [registry],
    });
    this.nacks = new Counter({
      name: 'remora_xds_nacks_total',
      help: 'NACKs received (requests with error_detail), by resource type',
      labelNames: ['type'],
      registers: [registry],
    });
    this.pushAckLatency = new Histogram({
      name: 'remora_xds_push_ack_latency_seconds',
      help: 'Time from a DiscoveryResponse to its ACK',
      labelNames: ['type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.streamsRejected = new Counter({
      name: 'remora_xds_streams_rejected_total',
      help: 'Secure-port ADS streams refused because the client certificate carries no usable SPIFFE identity',
      registers: [registry],
    });
    this.identityOverrides = new Counter({
      name: 'remora_xds_identity_overrides_total',
      help: 'Secure-port nodes whose NAMESPACE/SERVICE_ACCOUNT metadata differed from their certificate (the certificate wins)',
      registers: [registry],
    });
  }
}
