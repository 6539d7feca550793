// DHCP (RFC 2131/2132) on the wire, for the switch's DHCP server: finding a
// client's message in an Ethernet frame, parsing it with every length
// checked (hostile input gets a reason, never an exception), and building a
// server's reply frame (Ethernet, IPv4 and UDP with checksums).
import { IPPROTO_UDP, finish, pseudoHeaderSumV4, setIpv4HeaderChecksum, sumBytes } from '../../emulator/net/checksum.ts';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const BOOTP_FIXED = 236;
const MAGIC_COOKIE = 0x63825363;
/** Smallest BOOTP message some clients accept (RFC 1542's 300 bytes). */
const BOOTP_MIN = 300;

export const DhcpType = {
  discover: 1,
  offer: 2,
  request: 3,
  decline: 4,
  ack: 5,
  nak: 6,
  release: 7,
  inform: 8,
} as const;

export const DhcpOption = {
  pad: 0,
  subnetMask: 1,
  router: 3,
  dns: 6,
  requestedIp: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  renewalTime: 58,
  rebindingTime: 59,
  end: 255,
} as const;

/** Why a frame to UDP port 67 is not a DHCP message the server can read. */
export type DhcpProblem =
  | 'truncated-ip'
  | 'truncated-udp'
  | 'truncated-bootp'
  | 'bad-cookie'
  | 'bad-hardware-address'
  | 'option-overflow'
  | 'bad-option-length'
  | 'bad-overload'
  | 'no-message-type'
  | 'bad-message-type';

export interface DhcpMessage {
  op: number;
  xid: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  giaddr: number;
  /** The client's MAC (chaddr's first 6 bytes; hlen must be 6). */
  chaddr: Uint8Array;
  type: number;
  requestedIp: number | null;
  serverId: number | null;
}

/** Where a client's DHCP message sits in a frame. */
export interface DhcpLocation {
  /** Offset of the IPv4 header. */
  ip: number;
  /** IPv4 destination. */
  dstIp: number;
  /** Offset and length of the UDP payload (the BOOTP message). */
  payload: number;
  payloadLength: number;
}

/**
 * A frame's IPv4/UDP message to port 67 (VLAN tags skipped), `null` when the
 * frame is something else (not IPv4, not UDP, another port, a fragment), or
 * the problem when it is for port 67 but cut short.
 */
export function locateDhcp(data: Uint8Array): DhcpLocation | DhcpProblem | null {
  if (data.length < 14) return null;
  let off = 12;
  let type = (data[off]! << 8) | data[off + 1]!;
  for (let k = 0; k < 2 && (type === 0x8100 || type === 0x88a8); k++) {
    off += 4;
    if (data.length < off + 2) return null;
    type = (data[off]! << 8) | data[off + 1]!;
  }
  if (type !== 0x0800) return null;
  const ip = off + 2;
  if (data.length < ip + 20 || data[ip]! >> 4 !== 4 || data[ip + 9] !== IPPROTO_UDP) return null;
  const ihl = (data[ip]! & 0x0f) * 4;
  // Fragments (MF set or an offset): a client does not fragment DHCP; not ours to reassemble.
  if ((((data[ip + 6]! << 8) | data[ip + 7]!) & 0x3fff) !== 0) return null;
  const udp = ip + ihl;
  if (ihl < 20 || data.length < udp + 4) return null;
  if (((data[udp + 2]! << 8) | data[udp + 3]!) !== DHCP_SERVER_PORT) return null;
  const total = (data[ip + 2]! << 8) | data[ip + 3]!;
  if (total < ihl + 8 || ip + total > data.length) return 'truncated-ip';
  const udpLength = (data[udp + 4]! << 8) | data[udp + 5]!;
  if (udpLength < 8 || udp + udpLength > ip + total) return 'truncated-udp';
  const dstIp = ((data[ip + 16]! << 24) | (data[ip + 17]! << 16) | (data[ip + 18]! << 8) | data[ip + 19]!) >>> 0;
  return { ip, dstIp, payload: udp + 8, payloadLength: udpLength - 8 };
}

function u32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

/** Parses a BOOTP/DHCP message (the UDP payload); a problem string for anything malformed. */
export function parseDhcp(data: Uint8Array, start = 0, length = data.length - start): DhcpMessage | DhcpProblem {
  if (length < BOOTP_FIXED + 4 || start + length > data.length) return 'truncated-bootp';
  const end = start + length;
  if (data[start + 1] !== 1 || data[start + 2] !== 6) return 'bad-hardware-address';
  if (u32(data, start + BOOTP_FIXED) !== MAGIC_COOKIE) return 'bad-cookie';
  const m: DhcpMessage = {
    op: data[start]!,
    xid: u32(data, start + 4),
    flags: (data[start + 10]! << 8) | data[start + 11]!,
    ciaddr: u32(data, start + 12),
    yiaddr: u32(data, start + 16),
    giaddr: u32(data, start + 24),
    chaddr: data.slice(start + 28, start + 34),
    type: 0,
    requestedIp: null,
    serverId: null,
  };
  let overload = 0;
  const problem = readOptions(data, start + BOOTP_FIXED + 4, end, m, (v) => (overload = v));
  if (problem) return problem;
  // Option 52: the file (1), sname (2) or both (3) fields carry more options.
  if (overload !== 0) {
    if (overload > 3) return 'bad-overload';
    if (overload & 1) {
      const p = readOptions(data, start + 108, start + 236, m, null);
      if (p) return p;
    }
    if (overload & 2) {
      const p = readOptions(data, start + 44, start + 108, m, null);
      if (p) return p;
    }
  }
  if (m.type === 0) return 'no-message-type';
  if (m.type > DhcpType.inform) return 'bad-message-type';
  return m;
}

/** Reads options from data[at..end) into m; the first instance of each wins. */
function readOptions(data: Uint8Array, at: number, end: number, m: DhcpMessage, onOverload: ((v: number) => void) | null): DhcpProblem | null {
  let i = at;
  while (i < end) {
    const code = data[i]!;
    if (code === DhcpOption.end) return null;
    if (code === DhcpOption.pad) {
      i++;
      continue;
    }
    if (i + 1 >= end) return 'option-overflow';
    const len = data[i + 1]!;
    const value = i + 2;
    if (value + len > end) return 'option-overflow';
    switch (code) {
      case DhcpOption.messageType:
        if (len !== 1) return 'bad-option-length';
        if (m.type === 0) m.type = data[value]!;
        break;
      case DhcpOption.requestedIp:
        if (len !== 4) return 'bad-option-length';
        if (m.requestedIp === null) m.requestedIp = u32(data, value);
        break;
      case DhcpOption.serverId:
        if (len !== 4) return 'bad-option-length';
        if (m.serverId === null) m.serverId = u32(data, value);
        break;
      case DhcpOption.overload:
        // Only in the options field proper (not inside the overloaded fields).
        if (len !== 1) return 'bad-option-length';
        if (onOverload) onOverload(data[value]!);
        break;
      default:
        break;
    }
    i = value + len;
  }
  // No end option: the field ran out (RFC 2131 requires `end`; clients do send it, a missing one is tolerated when everything fitted).
  return null;
}

export interface DhcpReply {
  type: number;
  request: DhcpMessage;
  yiaddr: number;
  serverIp: number;
  serverMac: Uint8Array;
  /** Ethernet and IP destination. */
  dstMac: Uint8Array;
  dstIp: number;
  subnetMask?: number;
  routers?: readonly number[];
  dns?: readonly number[];
  leaseSeconds?: number;
}

function put32(data: Uint8Array, at: number, v: number): void {
  data[at] = v >>> 24;
  data[at + 1] = (v >>> 16) & 0xff;
  data[at + 2] = (v >>> 8) & 0xff;
  data[at + 3] = v & 0xff;
}

/** A server reply as an untagged Ethernet frame from serverMac:67 to dst:68. */
export function buildDhcpReply(r: DhcpReply): Uint8Array {
  const options: number[] = [DhcpOption.messageType, 1, r.type, DhcpOption.serverId, 4, ...bytes4(r.serverIp)];
  if (r.leaseSeconds !== undefined) {
    const lease = r.leaseSeconds >>> 0;
    options.push(DhcpOption.leaseTime, 4, ...bytes4(lease));
    options.push(DhcpOption.renewalTime, 4, ...bytes4(Math.floor(lease / 2)));
    options.push(DhcpOption.rebindingTime, 4, ...bytes4(Math.floor((lease * 7) / 8)));
  }
  if (r.subnetMask !== undefined) options.push(DhcpOption.subnetMask, 4, ...bytes4(r.subnetMask));
  if (r.routers?.length) options.push(DhcpOption.router, 4 * r.routers.length, ...r.routers.flatMap(bytes4));
  if (r.dns?.length) options.push(DhcpOption.dns, 4 * r.dns.length, ...r.dns.flatMap(bytes4));
  options.push(DhcpOption.end);
  const bootpLength = Math.max(BOOTP_MIN, BOOTP_FIXED + 4 + options.length);
  const udpLength = 8 + bootpLength;
  const ipLength = 20 + udpLength;
  const data = new Uint8Array(14 + ipLength);
  data.set(r.dstMac.subarray(0, 6), 0);
  data.set(r.serverMac.subarray(0, 6), 6);
  data[12] = 0x08;
  data[13] = 0x00;
  const ip = 14;
  data[ip] = 0x45;
  data[ip + 2] = ipLength >> 8;
  data[ip + 3] = ipLength & 0xff;
  data[ip + 8] = 64;
  data[ip + 9] = IPPROTO_UDP;
  put32(data, ip + 12, r.serverIp);
  put32(data, ip + 16, r.dstIp);
  setIpv4HeaderChecksum(data, ip);
  const udp = ip + 20;
  data[udp] = DHCP_SERVER_PORT >> 8;
  data[udp + 1] = DHCP_SERVER_PORT & 0xff;
  data[udp + 2] = DHCP_CLIENT_PORT >> 8;
  data[udp + 3] = DHCP_CLIENT_PORT & 0xff;
  data[udp + 4] = udpLength >> 8;
  data[udp + 5] = udpLength & 0xff;
  const b = udp + 8;
  data[b] = 2; // BOOTREPLY
  data[b + 1] = 1;
  data[b + 2] = 6;
  put32(data, b + 4, r.request.xid);
  data[b + 10] = r.request.flags >> 8;
  data[b + 11] = r.request.flags & 0xff;
  // ciaddr is echoed only in an ACK to a client that has an address (RFC 2131 table 3).
  if (r.type === DhcpType.ack) put32(data, b + 12, r.request.ciaddr);
  put32(data, b + 16, r.yiaddr);
  put32(data, b + 24, r.request.giaddr);
  data.set(r.request.chaddr.subarray(0, 6), b + 28);
  put32(data, b + BOOTP_FIXED, MAGIC_COOKIE);
  data.set(options, b + BOOTP_FIXED + 4);
  const sum = sumBytes(data, udp, udp + udpLength, pseudoHeaderSumV4(data, ip, IPPROTO_UDP, udpLength));
  const c = finish(sum) || 0xffff;
  data[udp + 6] = c >> 8;
  data[udp + 7] = c & 0xff;
  return data;
}

function bytes4(v: number): number[] {
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}
