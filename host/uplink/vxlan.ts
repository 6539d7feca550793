// VXLAN (RFC 7348) without the socket: the 8-byte header, the datagram
// checks, the outer source port hash, the peer allowlist, head-end
// replication and per-VTEP MAC learning with aging. Browser-safe (no node:
// imports): the UDP socket that carries it is vxlan-socket.ts (Node only).
//
//   header: flags (0x08 = I, VNI valid), 3 reserved, VNI (24 bits), 1 reserved
//
// Receive checks, in order (each a catalogued reason, counted, never thrown):
// the sender is a configured peer, the datagram holds a header and an
// Ethernet header, the I flag is set, the VNI is ours, the inner frame fits
// the MTU, its source MAC is unicast. Reserved bits are ignored (the RFC says
// receivers must). Learning: an accepted frame's inner source MAC is
// remembered against the peer it came from; a unicast frame to a learned
// MAC goes to that peer only, everything else (broadcast, multicast, unknown
// or aged-out unicast) to every peer.
import type { Frame } from '../../emulator/net/frame.ts';
import { ETH_HEADER_LENGTH, ETH_TYPE_IPV4, ETH_TYPE_IPV6 } from '../../emulator/net/frame.ts';
import { bump } from '../counters.ts';
import { UPLINK_DROP_REASONS, type UplinkDropReason } from '../drop-reasons.ts';
import { parseIpv4Address, parseIpv6Address } from '../extensions/acl.ts';
import { formatMacKey, macKeyAt } from './mac-key.ts';

export const VXLAN_HEADER_LENGTH = 8;
/** The I flag: the VNI field is valid. */
export const VXLAN_FLAG_VNI = 0x08;
/** IANA's port (Linux's own default is 8472, the pre-standard one). */
export const VXLAN_DEFAULT_PORT = 4789;
export const MAX_VNI = 0xffffff;
/** Outer headers on a 1500-byte underlay: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 (IPv6: 40 instead of 20). */
export const VXLAN_OVERHEAD_V4 = 50;
export const VXLAN_OVERHEAD_V6 = 70;
/** The inner MTU on a 1500-byte underlay (what Linux gives a vxlan device). */
export const VXLAN_DEFAULT_MTU_V4 = 1500 - VXLAN_OVERHEAD_V4;
export const VXLAN_DEFAULT_MTU_V6 = 1500 - VXLAN_OVERHEAD_V6;
/** RFC 7348's suggested outer source port range (the dynamic ports). */
export const SOURCE_PORT_MIN = 49152;
export const SOURCE_PORT_COUNT = 65536 - SOURCE_PORT_MIN;
/** Linux's bridge ageing time. */
export const DEFAULT_AGING_MS = 300_000;
/** Remote MACs remembered at most (an allowed peer flooding random source MACs fills no more). */
export const DEFAULT_MAX_LEARNED = 4096;
/** Link headers an inner frame may carry on top of the MTU (Ethernet + one 802.1Q tag). */
const INNER_LINK_HEADERS = ETH_HEADER_LENGTH + 4;

/** A bad VXLAN configuration (a flag, a lab file entry, a library option). */
export class VxlanConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VxlanConfigError';
  }
}

export interface UdpEndpoint {
  /** Canonical text (IPv6 without brackets, lower case, compressed as given by formatAddress). */
  address: string;
  port: number;
  family: 4 | 6;
}

export interface VxlanConfig {
  vni: number;
  /** Where the socket binds (default 127.0.0.1:4789). */
  local: UdpEndpoint;
  /** The static peer list: the allowlist and the head-end replication list. */
  peers: UdpEndpoint[];
  /** Inner MTU (default 1450 over IPv4, 1430 over IPv6). */
  mtu?: number;
  agingMs?: number;
  maxLearned?: number;
}

// ---- the header --------------------------------------------------------------

/** The 8-byte header for `vni`: I flag set, reserved fields zero. */
export function vxlanHeader(vni: number): Uint8Array {
  return Uint8Array.of(VXLAN_FLAG_VNI, 0, 0, 0, (vni >>> 16) & 0xff, (vni >>> 8) & 0xff, vni & 0xff, 0);
}

/** The VNI field of a datagram (call only after it has a whole header). */
export function readVni(datagram: Uint8Array): number {
  return (datagram[4]! << 16) | (datagram[5]! << 8) | datagram[6]!;
}

/** Why a datagram is not a frame for VNI `vni` with an inner MTU of `mtu`, or null. */
export function vxlanProblem(datagram: Uint8Array, vni: number, mtu: number): UplinkDropReason | null {
  const length = datagram.length;
  if (length < VXLAN_HEADER_LENGTH + ETH_HEADER_LENGTH) return UPLINK_DROP_REASONS.vxlanTruncated;
  if ((datagram[0]! & VXLAN_FLAG_VNI) === 0) return UPLINK_DROP_REASONS.vxlanNoVniFlag;
  if (readVni(datagram) !== vni) return UPLINK_DROP_REASONS.vxlanUnknownVni;
  if (length - VXLAN_HEADER_LENGTH > mtu + INNER_LINK_HEADERS) return UPLINK_DROP_REASONS.oversize;
  // The inner source MAC's group bit.
  if (datagram[VXLAN_HEADER_LENGTH + 6]! & 1) return UPLINK_DROP_REASONS.multicastSource;
  return null;
}

// ---- the outer source port ---------------------------------------------------------

/**
 * A hash of the inner flow (MACs, and for IPv4/IPv6 the addresses, protocol
 * and, unless a fragment, the L4 ports) mapped into 49152-65535, so that an
 * underlay spreading by 5-tuple (ECMP) keeps a flow on one path and spreads
 * flows apart. FNV-1a, no allocation.
 */
export function flowSourcePort(frame: Uint8Array): number {
  let h = fnv1a(0x811c9dc5, frame, 0, 12);
  if (frame.length >= ETH_HEADER_LENGTH) {
    const type = (frame[12]! << 8) | frame[13]!;
    const l3 = ETH_HEADER_LENGTH;
    if (type === ETH_TYPE_IPV4 && frame.length >= l3 + 20) {
      h = fnv1a(h, frame, l3 + 9, l3 + 10);
      h = fnv1a(h, frame, l3 + 12, l3 + 20);
      const fragment = (((frame[l3 + 6]! << 8) | frame[l3 + 7]!) & 0x3fff) !== 0;
      const l4 = l3 + (frame[l3]! & 0x0f) * 4;
      if (!fragment) h = fnv1a(h, frame, l4, l4 + 4);
    } else if (type === ETH_TYPE_IPV6 && frame.length >= l3 + 40) {
      h = fnv1a(h, frame, l3 + 6, l3 + 7);
      h = fnv1a(h, frame, l3 + 8, l3 + 44);
    }
  }
  h ^= h >>> 16;
  return SOURCE_PORT_MIN + ((h >>> 0) % SOURCE_PORT_COUNT);
}

/** FNV-1a over bytes [from, to) of `bytes` (cut at its end), continuing from `h`. */
function fnv1a(h: number, bytes: Uint8Array, from: number, to: number): number {
  const end = Math.min(to, bytes.length);
  for (let i = from; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}

// ---- addresses and the flag syntax ------------------------------------------------------

/** Canonical form of an IP address for the allowlist (IPv6 zone ids dropped), or null. */
export function canonicalAddress(text: string): { address: string; family: 4 | 6 } | null {
  const v4 = parseIpv4Address(text);
  if (v4 !== null) return { address: [v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff].join('.'), family: 4 };
  const zone = text.indexOf('%');
  const v6 = parseIpv6Address(zone < 0 ? text : text.slice(0, zone));
  if (v6 === null) return null;
  const groups: string[] = [];
  for (const word of v6) groups.push((word >>> 16).toString(16), (word & 0xffff).toString(16));
  return { address: groups.join(':'), family: 6 };
}

/** `ADDRESS:PORT` or `[IPV6]:PORT` (or just PORT when `defaultAddress` is given). */
export function parseUdpEndpoint(text: string, what: string, defaultAddress?: string): UdpEndpoint {
  let addressText: string | undefined;
  let portText: string;
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (bracket) {
    addressText = bracket[1]!;
    portText = bracket[2]!;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) throw new VxlanConfigError(`${what} '${text}': put an IPv6 address in brackets, e.g. [::1]:4789`);
    addressText = colon >= 0 ? text.slice(0, colon) : undefined;
    portText = colon >= 0 ? text.slice(colon + 1) : text;
  }
  if (addressText === undefined) {
    if (defaultAddress === undefined) throw new VxlanConfigError(`${what} '${text}' needs ADDRESS:PORT`);
    addressText = defaultAddress;
  }
  const address = canonicalAddress(addressText);
  if (!address) throw new VxlanConfigError(`${what} '${text}': '${addressText}' is not an IPv4 or IPv6 address`);
  return { ...address, port: parsePort(portText, `${what} '${text}'`) };
}

export function parsePort(text: string | number, what: string): number {
  const port = typeof text === 'number' ? text : /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new VxlanConfigError(`${what}: the UDP port must be 1-65535, not '${text}'`);
  return port;
}

export function checkVni(vni: unknown, what: string): number {
  const value = typeof vni === 'string' && /^\d{1,8}$/.test(vni) ? Number(vni) : vni;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_VNI) {
    throw new VxlanConfigError(`${what}: the VNI must be an integer 0-${MAX_VNI}, not '${String(vni)}'`);
  }
  return value;
}

/** Checks a whole configuration (families agree, no duplicate peers, the local endpoint is not a peer). */
export function checkVxlanConfig(config: VxlanConfig, what = 'vxlan'): VxlanConfig {
  checkVni(config.vni, what);
  if (!config.peers.length) throw new VxlanConfigError(`${what}: needs at least one peer`);
  const seen = new Set<string>();
  for (const peer of config.peers) {
    if (peer.family !== config.local.family) throw new VxlanConfigError(`${what}: peer ${formatEndpoint(peer)} is IPv${peer.family} but the local address ${formatEndpoint(config.local)} is IPv${config.local.family}`);
    const key = formatEndpoint(peer);
    if (seen.has(key)) throw new VxlanConfigError(`${what}: peer ${key} is listed twice`);
    if (key === formatEndpoint(config.local)) throw new VxlanConfigError(`${what}: peer ${key} is the local endpoint`);
    seen.add(key);
  }
  if (config.mtu !== undefined && !(Number.isInteger(config.mtu) && config.mtu >= 68 && config.mtu <= 65000)) {
    throw new VxlanConfigError(`${what}: mtu must be 68-65000, not ${config.mtu}`);
  }
  return config;
}

/** `VNI@[LOCAL:]PORT=PEER:PORT[,PEER:PORT...]` (LOCAL defaults to 127.0.0.1; IPv6 in brackets). */
export function parseVxlanSpec(text: string): VxlanConfig {
  const what = `--vxlan '${text}'`;
  const m = /^([^@]+)@([^=]+)=(.+)$/.exec(text);
  if (!m) throw new VxlanConfigError(`${what}: expected VNI@[LOCAL:]PORT=PEER:PORT[,PEER:PORT...]`);
  const vni = checkVni(m[1]!, what);
  const local = parseUdpEndpoint(m[2]!, 'local endpoint', '127.0.0.1');
  const peers = m[3]!.split(',').map((peer) => parseUdpEndpoint(peer, 'peer'));
  return checkVxlanConfig({ vni, local, peers }, what);
}

export function formatEndpoint(endpoint: UdpEndpoint): string {
  return endpoint.family === 6 ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

export function defaultVxlanMtu(family: 4 | 6): number {
  return family === 6 ? VXLAN_DEFAULT_MTU_V6 : VXLAN_DEFAULT_MTU_V4;
}

// ---- the endpoint logic --------------------------------------------------------

export interface VxlanCounters {
  /** Frames the switch gave the uplink. */
  txFrames: number;
  /** Datagrams sent (a flooded frame is one per peer). */
  txDatagrams: number;
  rxDatagrams: number;
  /** Frames accepted from peers. */
  rxFrames: number;
}

/** What the transport does with one datagram: [header, frame] to `peer` from source port `sourcePort`; false when it failed. */
export type VxlanTransmit = (peer: UdpEndpoint, header: Uint8Array, frame: Uint8Array, sourcePort: number) => boolean;

interface Learned {
  peer: number;
  seen: number;
}

const MAX_ADDRESS_CACHE = 1024;

export class VxlanEndpoint {
  readonly vni: number;
  readonly mtu: number;
  readonly header: Uint8Array;
  readonly peers: readonly UdpEndpoint[];
  readonly counters: VxlanCounters = { txFrames: 0, txDatagrams: 0, rxDatagrams: 0, rxFrames: 0 };
  readonly drops: Partial<Record<UplinkDropReason, number>> = {};
  private readonly agingMs: number;
  private readonly maxLearned: number;
  private readonly learned = new Map<number, Learned>();
  /** Source address text as the transport reports it -> peer indexes at that address (no parse per datagram). */
  private readonly addressCache = new Map<string, readonly number[]>();
  private readonly allPeers: readonly number[];

  constructor(
    config: VxlanConfig,
    private readonly transmit: VxlanTransmit,
    /** Milliseconds. */
    private readonly clock: () => number = Date.now,
  ) {
    checkVxlanConfig(config);
    this.vni = config.vni;
    this.mtu = config.mtu ?? defaultVxlanMtu(config.local.family);
    this.header = vxlanHeader(config.vni);
    this.peers = config.peers.map((peer) => ({ ...peer }));
    this.agingMs = config.agingMs ?? DEFAULT_AGING_MS;
    this.maxLearned = config.maxLearned ?? DEFAULT_MAX_LEARNED;
    this.allPeers = this.peers.map((_, i) => i);
  }

  /** Frames from the switch: one datagram to the learned peer, or one to every peer. */
  send(frames: readonly Frame[]): void {
    for (const frame of frames) {
      const data = frame.data;
      this.counters.txFrames++;
      const peer = data[0]! & 1 ? undefined : this.lookup(macKeyAt(data, 0));
      const sourcePort = flowSourcePort(data);
      if (peer !== undefined) this.sendTo(peer, data, sourcePort);
      else for (let i = 0; i < this.peers.length; i++) this.sendTo(i, data, sourcePort);
    }
  }

  private sendTo(peer: number, data: Uint8Array, sourcePort: number): void {
    if (this.transmit(this.peers[peer]!, this.header, data, sourcePort)) this.counters.txDatagrams++;
    else bump(this.drops, UPLINK_DROP_REASONS.sendFailed);
  }

  /**
   * A datagram from `address`:`port`: the inner frame (a view into it) when
   * it passes every check, else null with the reason counted.
   */
  receive(datagram: Uint8Array, address: string, port: number): Frame | null {
    this.counters.rxDatagrams++;
    const peer = this.peerFor(address, port);
    if (peer === undefined) return this.drop(UPLINK_DROP_REASONS.unknownPeer);
    const problem = vxlanProblem(datagram, this.vni, this.mtu);
    if (problem) return this.drop(problem);
    const data = datagram.subarray(VXLAN_HEADER_LENGTH);
    if (peer >= 0) this.learn(macKeyAt(data, 6), peer);
    this.counters.rxFrames++;
    return { data };
  }

  /** Learned remote MACs (for inspection): MAC text -> peer and age. */
  learnedMacs(): { mac: string; peer: string; ageMs: number }[] {
    const now = this.clock();
    const out: { mac: string; peer: string; ageMs: number }[] = [];
    for (const [key, entry] of this.learned) {
      if (now - entry.seen > this.agingMs) continue;
      out.push({ mac: formatMacKey(key), peer: formatEndpoint(this.peers[entry.peer]!), ageMs: now - entry.seen });
    }
    return out;
  }

  private drop(reason: UplinkDropReason): null {
    bump(this.drops, reason);
    return null;
  }

  private lookup(key: number): number | undefined {
    const entry = this.learned.get(key);
    if (!entry) return undefined;
    if (this.clock() - entry.seen > this.agingMs) {
      this.learned.delete(key);
      return undefined;
    }
    return entry.peer;
  }

  private learn(key: number, peer: number): void {
    const entry = this.learned.get(key);
    const now = this.clock();
    if (entry) {
      entry.peer = peer;
      entry.seen = now;
      return;
    }
    if (this.learned.size >= this.maxLearned) {
      this.expire(now);
      // Still full: the MAC is not learned; frames to it are flooded, which is correct, only less efficient.
      if (this.learned.size >= this.maxLearned) return;
    }
    this.learned.set(key, { peer, seen: now });
  }

  private expire(now: number): void {
    for (const [key, entry] of this.learned) if (now - entry.seen > this.agingMs) this.learned.delete(key);
  }

  /**
   * The configured peer a datagram came from. Peers are told apart by
   * address (a VTEP sends from a hashed source port, not its listening one);
   * several peers at one address (labs on one machine) by the source port
   * when it is a peer's listening port, else -1: allowed but not learned
   * (frames to its MACs are flooded; give such labs distinct 127.0.0.x
   * addresses to have them learned).
   */
  private peerFor(address: string, port: number): number | undefined {
    let candidates = this.addressCache.get(address);
    if (candidates === undefined) {
      const canonical = canonicalAddress(address);
      candidates = canonical ? this.allPeers.filter((i) => this.peers[i]!.address === canonical.address && this.peers[i]!.family === canonical.family) : [];
      // Only allowed peers' addresses are cached, so a spoofing flood of addresses grows nothing.
      if (candidates.length && this.addressCache.size < MAX_ADDRESS_CACHE) this.addressCache.set(address, candidates);
    }
    if (!candidates.length) return undefined;
    if (candidates.length === 1) return candidates[0];
    for (const i of candidates) if (this.peers[i]!.port === port) return i;
    return -1;
  }
}
