/**
 * The traffic-capture rules `remora inject` installs through its init container: iptables NAT
 * rules that redirect a pod's inbound TCP to the sidecar's inbound listener (15006) and its
 * outbound TCP to the outbound listener (15001), the way Istio's `istio-iptables` does. The
 * sidecar's own traffic (its UID, 1337), loopback, and the mesh's reserved ports 15000–15021 are
 * never redirected, nor are the ports a pod excludes by annotation. Pure: ports in, argv lists and
 * a POSIX shell script out. IPv4 only (no ip6tables rules yet).
 */

/** Ports the mesh reserves (sidecar and control-plane ports); never redirected in either direction. */
export const RESERVED_PORT_RANGE = '15000:15021';

/** What the rules redirect and what they leave alone. */
export interface CaptureOptions {
  /** Sidecar inbound listener (default 15006). */
  readonly inboundPort: number;
  /** Sidecar outbound listener (default 15001). */
  readonly outboundPort: number;
  /** UID the sidecar runs as; its own connections are not redirected (default 1337). */
  readonly proxyUid: number;
  /** Destination ports of inbound connections that bypass the sidecar. */
  readonly excludeInboundPorts: readonly number[];
  /** Destination ports of outbound connections that bypass the sidecar. */
  readonly excludeOutboundPorts: readonly number[];
}

export const DEFAULT_CAPTURE: CaptureOptions = Object.freeze({
  inboundPort: 15006,
  outboundPort: 15001,
  proxyUid: 1337,
  excludeInboundPorts: Object.freeze([]) as readonly number[],
  excludeOutboundPorts: Object.freeze([]) as readonly number[],
});

/** One command of the rule set: the arguments after `iptables -t nat`. */
export type NatRule = readonly string[];

/**
 * The NAT rules, in order. Chains are created (or flushed when they exist) by the script, so
 * these are only the `-A` rules; the jumps from PREROUTING/OUTPUT come first.
 */
export function buildNatRules(o: CaptureOptions): NatRule[] {
  const rules: NatRule[] = [];
  // Inbound: everything arriving for the pod goes to the inbound listener, except the exclusions.
  rules.push(['-A', 'REMORA_IN_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.inboundPort)]);
  rules.push(['-A', 'REMORA_INBOUND', '-p', 'tcp', '--dport', RESERVED_PORT_RANGE, '-j', 'RETURN']);
  for (const p of o.excludeInboundPorts) rules.push(['-A', 'REMORA_INBOUND', '-p', 'tcp', '--dport', String(p), '-j', 'RETURN']);
  rules.push(['-A', 'REMORA_INBOUND', '-p', 'tcp', '-j', 'REMORA_IN_REDIRECT']);
  // Outbound: what the app opens goes to the outbound listener; the proxy's own and local traffic does not.
  rules.push(['-A', 'REMORA_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.outboundPort)]);
  rules.push(['-A', 'REMORA_OUTPUT', '-m', 'owner', '--uid-owner', String(o.proxyUid), '-j', 'RETURN']);
  rules.push(['-A', 'REMORA_OUTPUT', '-o', 'lo', '-j', 'RETURN']);
  rules.push(['-A', 'REMORA_OUTPUT', '-d', '127.0.0.1/32', '-j', 'RETURN']);
  rules.push(['-A', 'REMORA_OUTPUT', '-p', 'tcp', '--dport', RESERVED_PORT_RANGE, '-j', 'RETURN']);
  for (const p of o.excludeOutboundPorts) rules.push(['-A', 'REMORA_OUTPUT', '-p', 'tcp', '--dport', String(p), '-j', 'RETURN']);
  rules.push(['-A', 'REMORA_OUTPUT', '-p', 'tcp', '-j', 'REMORA_REDIRECT']);
  return rules;
}

const CHAINS = ['REMORA_INBOUND', 'REMORA_IN_REDIRECT', 'REMORA_OUTPUT', 'REMORA_REDIRECT'] as const;
const JUMPS: readonly NatRule[] = [['PREROUTING', '-p', 'tcp', '-j', 'REMORA_INBOUND'], ['OUTPUT', '-p', 'tcp', '-j', 'REMORA_OUTPUT']];

/**
 * A POSIX `sh` script that installs the rules; safe to run again in the same network namespace
 * (an init container restarted): chains are flushed instead of re-created and the jumps are added
 * only when missing. Every value in it is a number or a fixed token, so nothing needs quoting.
 */
export function iptablesScript(o: CaptureOptions): string {
  const lines: string[] = ['set -eu'];
  for (const c of CHAINS) lines.push(`iptables -t nat -N ${c} 2>/dev/null || iptables -t nat -F ${c}`);
  for (const r of buildNatRules(o)) lines.push(`iptables -t nat ${r.join(' ')}`);
  for (const j of JUMPS) lines.push(`iptables -t nat -C ${j.join(' ')} 2>/dev/null || iptables -t nat -A ${j.join(' ')}`);
  lines.push('iptables -t nat -S');
  return lines.join('\n') + '\n';
}

/**
 * Parses a comma-separated port list such as `"8080, 9090"` (an annotation value). Returns the
 * ports (deduplicated, in order) or an error message naming the bad entry; an empty string is no
 * ports. Never throws.
 */
export function parsePortList(value: string): { ok: true; ports: number[] } | { ok: false; message: string } {
  const ports: number[] = [];
  if (value.trim() === '') return { ok: true, ports };
  for (const raw of value.split(',')) {
    const s = raw.trim();
    const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
    if (!(n >= 1 && n <= 65535)) return { ok: false, message: `expected comma-separated ports 1-65535, got '${s}' in '${value}'` };
    if (!ports.includes(n)) ports.push(n);
  }
  return { ok: true, ports };
}
