// Hyper-V's DHCP guard and router guard (filter extensions): on VM ports
// (port types synthetic and emulated), DHCP server messages and router
// advertisements/redirects are dropped unless the port is allowed to send
// them. Ports of other types (external, internal, and `generic` link ports
// between switches) are not guarded: a rogue server is stopped at the port of
// its own switch. IPv4 and IPv6, untagged and 802.1Q/802.1ad tagged.
//
// The permission is a port property, as Hyper-V keeps DhcpGuard/RouterGuard
// in the port's security settings: a custom property
// `{ type: 'custom', name: 'allow-dhcp-server' | 'allow-router', value: true }`
// (allowDhcpServerProperty() / allowRouterProperty() build them), added at
// PORT_CREATE (`createPort({ properties })`) or later with
// addPortProperty/updatePortProperty; deleting it guards the port again. A
// value other than a boolean is vetoed.
//
// IPv6: the extension-header chain is walked to the upper layer; a first
// fragment whose chain ends before it (RFC 7113's RA-guard evasion) is
// dropped from a guarded port as `guard-unparsable-ipv6`.
import type { Extension, ExtensionContext, IngressBatch } from '../extension.ts';
import type { OidReply, OidRequest, OidStatus } from '../oid.ts';
import type { CustomProperty, PortType } from '../port.ts';
import { EXTENSION_DROP_REASONS } from '../drop-reasons.ts';

export const ALLOW_DHCP_SERVER_PROPERTY = 'allow-dhcp-server';
export const ALLOW_ROUTER_PROPERTY = 'allow-router';

export function allowDhcpServerProperty(allowed = true): CustomProperty {
  return { type: 'custom', name: ALLOW_DHCP_SERVER_PROPERTY, value: allowed };
}

export function allowRouterProperty(allowed = true): CustomProperty {
  return { type: 'custom', name: ALLOW_ROUTER_PROPERTY, value: allowed };
}

/** What a guard looks for in a frame. */
export const GuardClass = {
  none: 0,
  /** IPv4 UDP from port 67 (BOOTP/DHCP server or relay). */
  dhcp4Server: 1,
  /** DHCPv6 from port 547: Advertise, Reply, Reconfigure, Relay-Reply. */
  dhcp6Server: 2,
  /** ICMPv6 router advertisement (134) or redirect (137). */
  router6: 3,
  /** ICMP redirect (5) or router advertisement (9). */
  router4: 4,
  /** An IPv6 first fragment (or unfragmented packet) whose upper-layer header cannot be reached. */
  unparsable6: 5,
} as const;
export type GuardClass = (typeof GuardClass)[keyof typeof GuardClass];

/** Longest IPv6 extension-header chain walked before the packet counts as unparsable. */
const MAX_IPV6_HEADERS = 16;

/** Classifies a frame for the guards; never throws, whatever the bytes. */
export function guardClass(data: Uint8Array): GuardClass {
  let off = 12;
  if (data.length < 14) return GuardClass.none;
  let type = (data[off]! << 8) | data[off + 1]!;
  // Up to two VLAN tags (802.1Q, 802.1ad, the old 0x9100 QinQ).
  for (let k = 0; k < 2 && (type === 0x8100 || type === 0x88a8 || type === 0x9100); k++) {
    off += 4;
    if (data.length < off + 2) return GuardClass.none;
    type = (data[off]! << 8) | data[off + 1]!;
  }
  const ip = off + 2;
  if (type === 0x0800) return ipv4Class(data, ip);
  if (type === 0x86dd) return ipv6Class(data, ip);
  return GuardClass.none;
}

function ipv4Class(data: Uint8Array, ip: number): GuardClass {
  if (data.length < ip + 20 || data[ip]! >> 4 !== 4) return GuardClass.none;
  const ihl = (data[ip]! & 0x0f) * 4;
  if (ihl < 20) return GuardClass.none;
  // Only a first fragment carries the UDP or ICMP header.
  if ((((data[ip + 6]! << 8) | data[ip + 7]!) & 0x1fff) !== 0) return GuardClass.none;
  const l4 = ip + ihl;
  const protocol = data[ip + 9]!;
  if (protocol === 17) {
    if (data.length < l4 + 2) return GuardClass.none;
    return ((data[l4]! << 8) | data[l4 + 1]!) === 67 ? GuardClass.dhcp4Server : GuardClass.none;
  }
  if (protocol === 1) {
    if (data.length < l4 + 1) return GuardClass.none;
    const icmp = data[l4]!;
    return icmp === 5 || icmp === 9 ? GuardClass.router4 : GuardClass.none;
  }
  return GuardClass.none;
}

function ipv6Class(data: Uint8Array, ip: number): GuardClass {
  if (data.length < ip + 40 || data[ip]! >> 4 !== 6) return GuardClass.none;
  let next = data[ip + 6]!;
  let off = ip + 40;
  for (let n = 0; ; n++) {
    if (n > MAX_IPV6_HEADERS) return GuardClass.unparsable6;
    if (next === 0 || next === 43 || next === 60) {
      if (data.length < off + 2) return GuardClass.unparsable6;
      next = data[off]!;
      off += (data[off + 1]! + 1) * 8;
    } else if (next === 51) {
      if (data.length < off + 2) return GuardClass.unparsable6;
      next = data[off]!;
      off += (data[off + 1]! + 2) * 4;
    } else if (next === 44) {
      if (data.length < off + 8) return GuardClass.unparsable6;
      // A later fragment has no upper-layer header to look at.
      if ((((data[off + 2]! << 8) | data[off + 3]!) & 0xfff8) !== 0) return GuardClass.none;
      next = data[off]!;
      off += 8;
    } else {
      break;
    }
  }
  if (next === 58) {
    if (data.length < off + 1) return GuardClass.unparsable6;
    const icmp = data[off]!;
    return icmp === 134 || icmp === 137 ? GuardClass.router6 : GuardClass.none;
  }
  if (next === 17) {
    if (data.length < off + 8) return GuardClass.unparsable6;
    if (((data[off]! << 8) | data[off + 1]!) !== 547) return GuardClass.none;
    if (data.length < off + 9) return GuardClass.none;
    const msg = data[off + 8]!;
    return msg === 2 || msg === 7 || msg === 10 || msg === 13 ? GuardClass.dhcp6Server : GuardClass.none;
  }
  return GuardClass.none;
}

const GUARDED_PORT_TYPES: ReadonlySet<PortType> = new Set<PortType>(['synthetic', 'emulated']);

export interface GuardCounters {
  /** Frames dropped, by reason. */
  dropped: Record<string, number>;
  /** Frames of the guarded kind let through from an allowed (or unguarded) port. */
  allowed: number;
}

export interface GuardOptions {
  name?: string;
}

/** The shared part: which ports are allowed (from their custom property), and the drop. */
abstract class PortGuard implements Extension {
  readonly name: string;
  readonly kind = 'filter' as const;
  private context: ExtensionContext | null = null;
  private readonly allowedPorts = new Set<number>();
  private readonly dropped: Record<string, number> = {};
  private allowedFrames = 0;

  constructor(
    name: string,
    private readonly property: string,
    private readonly reason: string,
    /** The classes this guard drops (besides unparsable IPv6). */
    private readonly classes: readonly GuardClass[],
  ) {
    this.name = name;
  }

  attach(context: ExtensionContext): void {
    this.context = context;
    for (const port of context.query('OID_SWITCH_PORT_ARRAY')) {
      for (const p of port.properties) if (p.type === 'custom' && p.name === this.property && p.value === true) this.allowedPorts.add(port.id);
    }
  }

  detach(): void {
    this.context = null;
    this.allowedPorts.clear();
  }

  /** True when the port may send what this guard drops. */
  allows(portId: number): boolean {
    return this.allowedPorts.has(portId);
  }

  counters(): GuardCounters {
    return { dropped: { ...this.dropped }, allowed: this.allowedFrames };
  }

  oidRequest(request: OidRequest): OidReply {
    if (
      (request.oid === 'OID_SWITCH_PORT_PROPERTY_ADD' || request.oid === 'OID_SWITCH_PORT_PROPERTY_UPDATE') &&
      request.property.type === 'custom' &&
      request.property.name === this.property &&
      typeof request.property.value !== 'boolean'
    ) {
      return { veto: `${this.property} must be true or false` };
    }
    return undefined;
  }

  oidComplete(request: OidRequest, status: OidStatus): void {
    if (status !== 'success') return;
    if (request.oid === 'OID_SWITCH_PORT_DELETE') {
      this.allowedPorts.delete(request.port.id);
      return;
    }
    if (request.oid !== 'OID_SWITCH_PORT_PROPERTY_ADD' && request.oid !== 'OID_SWITCH_PORT_PROPERTY_UPDATE' && request.oid !== 'OID_SWITCH_PORT_PROPERTY_DELETE') return;
    const property = request.property;
    if (property.type !== 'custom' || property.name !== this.property) return;
    if (request.oid !== 'OID_SWITCH_PORT_PROPERTY_DELETE' && property.value === true) this.allowedPorts.add(request.port.id);
    else this.allowedPorts.delete(request.port.id);
  }

  ingress(batch: IngressBatch): void {
    const context = this.context;
    if (!context) return;
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i)) continue;
      const cls = guardClass(batch.frame(i).data);
      if (cls === GuardClass.none) continue;
      const unparsable = cls === GuardClass.unparsable6;
      if (!unparsable && !this.classes.includes(cls)) continue;
      const portId = batch.sourcePortId(i);
      const port = portId > 0 ? context.port(portId) : undefined;
      if (!port || !GUARDED_PORT_TYPES.has(port.type) || this.allowedPorts.has(portId)) {
        if (!unparsable) this.allowedFrames++;
        continue;
      }
      const reason = unparsable ? EXTENSION_DROP_REASONS.guardUnparsableIpv6 : this.reason;
      this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
      batch.drop(i, reason);
    }
  }
}

/** Drops DHCP server messages (IPv4 UDP from port 67; DHCPv6 server messages) from VM ports without `allow-dhcp-server`. */
export class DhcpGuard extends PortGuard {
  constructor(options: GuardOptions = {}) {
    super(options.name ?? 'dhcp-guard', ALLOW_DHCP_SERVER_PROPERTY, EXTENSION_DROP_REASONS.dhcpGuard, [GuardClass.dhcp4Server, GuardClass.dhcp6Server]);
  }
}

/** Drops IPv6 router advertisements and redirects, and ICMP redirects and router advertisements, from VM ports without `allow-router`. */
export class RouterGuard extends PortGuard {
  constructor(options: GuardOptions = {}) {
    super(options.name ?? 'router-guard', ALLOW_ROUTER_PROPERTY, EXTENSION_DROP_REASONS.routerGuard, [GuardClass.router4, GuardClass.router6]);
  }
}
