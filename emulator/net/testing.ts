// Packet builders and an independent checksum verifier for NIC and offload
// tests. The verifier is written separately from checksum.ts on purpose (a
// plain 32-bit loop over the RFC 1071 definition) so tests do not check the
// code with itself. Also the containment tests' fault hook (injectNicFault).
import { ContainedNic } from './contain.ts';
import type { Frame } from './frame.ts';
import type { GuestNic } from './nic.ts';

export interface Ipv4PacketOptions {
  src?: number[];
  dst?: number[];
  srcMac?: number[];
  dstMac?: number[];
  id?: number;
  ttl?: number;
  vlan?: number;
}

function ethHeader(options: Ipv4PacketOptions, etherType: number): number[] {
  const dst = options.dstMac ?? [0x02, 0, 0, 0, 0, 0x02];
  const src = options.srcMac ?? [0x02, 0, 0, 0, 0, 0x01];
  const tag = options.vlan === undefined ? [] : [0x81, 0x00, (options.vlan >> 8) & 0x0f, options.vlan & 0xff];
  return [...dst, ...src, ...tag, etherType >> 8, etherType & 0xff];
}

/** Plain RFC 1071 over a byte list (independent of checksum.ts). */
export function referenceChecksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

export interface BuiltPacket {
  data: Uint8Array;
  l3: number;
  l4: number;
  /** Offset of the L4 payload. */
  payload: number;
}

/** An Ethernet + IPv4 + TCP/UDP packet with correct checksums, unless `seed` says what to leave in the L4 checksum field. */
export function buildIpv4(
  protocol: 'tcp' | 'udp',
  payload: Uint8Array,
  options: Ipv4PacketOptions & { seq?: number; flags?: number; seed?: 'full' | 'none' } = {},
): BuiltPacket {
  const eth = ethHeader(options, 0x0800);
  const l3 = eth.length;
  const l4Header = protocol === 'tcp' ? 20 : 8;
  const l4 = l3 + 20;
  const total = l4 + l4Header + payload.length;
  const data = new Uint8Array(total);
  data.set(eth);
  const ipLength = total - l3;
  const src = options.src ?? [10, 0, 0, 1];
  const dst = options.dst ?? [10, 0, 0, 2];
  const id = options.id ?? 0x1234;
  data.set([0x45, 0, ipLength >> 8, ipLength & 0xff, id >> 8, id & 0xff, 0x40, 0, options.ttl ?? 64, protocol === 'tcp' ? 6 : 17, 0, 0, ...src, ...dst], l3);
  const ipSum = referenceChecksum(data.subarray(l3, l4));
  data[l3 + 10] = ipSum >> 8;
  data[l3 + 11] = ipSum & 0xff;
  if (protocol === 'tcp') {
    const seq = options.seq ?? 1000;
    data.set([0x30, 0x39, 0x00, 0x50, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff, 0, 0, 0, 1, 0x50, options.flags ?? 0x18, 0xff, 0xff], l4);
  } else {
    const udpLength = l4Header + payload.length;
    data.set([0x30, 0x39, 0x00, 0x35, udpLength >> 8, udpLength & 0xff], l4);
  }
  data.set(payload, l4 + l4Header);
  const checkField = protocol === 'tcp' ? l4 + 16 : l4 + 6;
  const l4Length = total - l4;
  const pseudo = [...src, ...dst, 0, protocol === 'tcp' ? 6 : 17, l4Length >> 8, l4Length & 0xff];
  if (options.seed === 'full') {
    // Linux's CHECKSUM_PARTIAL convention: the folded pseudo-header sum, not complemented.
    const seed = ~referenceChecksum(pseudo) & 0xffff;
    data[checkField] = seed >> 8;
    data[checkField + 1] = seed & 0xff;
  } else if (options.seed !== 'none') {
    const sum = referenceChecksum([...pseudo, ...data.subarray(l4)]);
    data[checkField] = sum >> 8;
    data[checkField + 1] = sum & 0xff;
  }
  return { data, l3, l4, payload: l4 + l4Header };
}

/** True when the IPv4 header checksum at l3 verifies. */
export function ipv4HeaderValid(data: Uint8Array, l3: number): boolean {
  const ihl = (data[l3]! & 0x0f) * 4;
  return referenceChecksum(data.subarray(l3, l3 + ihl)) === 0;
}

/** True when the TCP/UDP checksum of an unfragmented IPv4 packet (L4 to the IP total length) verifies. */
export function ipv4L4Valid(data: Uint8Array, l3: number): boolean {
  const ihl = (data[l3]! & 0x0f) * 4;
  const total = (data[l3 + 2]! << 8) | data[l3 + 3]!;
  const l4 = l3 + ihl;
  const l4Length = total - ihl;
  const pseudo = [...data.subarray(l3 + 12, l3 + 20), 0, data[l3 + 9]!, l4Length >> 8, l4Length & 0xff];
  return referenceChecksum([...pseudo, ...data.subarray(l4, l3 + total)]) === 0;
}

export function patternBytes(length: number, salt = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + salt + (i >> 8)) & 0xff;
  return bytes;
}

/**
 * Puts a TCP/IPv4 packet in the form Linux's e1000 driver hands to TSO: IPv4
 * total length and header checksum 0, the TCP checksum seeded with a
 * pseudo-header of length 0.
 */
export function asE1000TsoInput(packet: BuiltPacket): void {
  const d = packet.data;
  d[packet.l3 + 2] = d[packet.l3 + 3] = d[packet.l3 + 10] = d[packet.l3 + 11] = 0;
  const seed = ~referenceChecksum([...d.subarray(packet.l3 + 12, packet.l3 + 20), 0, 6, 0, 0]) & 0xffff;
  d[packet.l4 + 16] = seed >> 8;
  d[packet.l4 + 17] = seed & 0xff;
}

/**
 * Test hook (containment tests only): the contained NIC's model throws `error`
 * from its receive() from now on, as a model bug a frame reaches would. The
 * NIC must come from createContainedNic (VirtualMachine's NICs do): nothing in
 * the product calls this.
 */
export function injectNicFault(nic: GuestNic, error: Error = new Error('injected fault')): void {
  if (!(nic instanceof ContainedNic)) throw new TypeError('injectNicFault needs a contained NIC (VirtualMachine and the web worker create them)');
  const model = nic.device as { receive(frames: readonly Frame[]): void };
  model.receive = () => {
    throw error;
  };
}
