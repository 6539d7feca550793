// The e1000's offloads, in terms of the shared software ones: the transmit
// context (checksum offsets, TSO fields), checksum insertion, turning a TSO
// packet into a Frame with `gso` (normalised to Linux's conventions), VLAN
// insertion, and the receive checksum status bits.
import type { Frame } from '../../net/frame.ts';
import { ETH_TYPE_VLAN } from '../../net/frame.ts';
import { IPPROTO_TCP, IPPROTO_UDP, finish, readU16BE, setIpv4HeaderChecksum, sumBytes, writeU16BE } from '../../net/checksum.ts';
import { MIN_GSO_SEGMENT_SIZE, OffloadError, parseLayout, segmentUdpDatagrams, setPseudoHeaderSeed } from '../../net/offload.ts';
import { GUEST_ERROR_REASONS, OFFLOAD_ERROR_REASONS, type GuestErrorReason } from '../../net/drop-reasons.ts';

export const TXD_CMD_EOP = 0x01;
export const TXD_CMD_IFCS = 0x02;
export const TXD_CMD_IC = 0x04; // legacy: insert checksum
export const TXD_CMD_TSE = 0x04; // extended: TCP segmentation
export const TXD_CMD_RS = 0x08;
export const TXD_CMD_RPS = 0x10;
export const TXD_CMD_DEXT = 0x20;
export const TXD_CMD_VLE = 0x40;
export const TXD_CMD_IDE = 0x80;
export const TXD_POPTS_IXSM = 0x01;
export const TXD_POPTS_TXSM = 0x02;
/** Context TUCMD bits (byte 11 of a context descriptor). */
export const TUCMD_TCP = 0x01;
export const TUCMD_IP = 0x02;
export const TUCMD_TSE = 0x04;

/** Largest packet the device assembles from descriptors (QEMU's limit too). */
export const MAX_PACKET_SIZE = 65536;
/** TSO headers the device copies per segment (the 82540's limit). */
export const MAX_TSO_HEADER = 240;

export interface TxContext {
  ipcss: number;
  ipcso: number;
  ipcse: number;
  tucss: number;
  tucso: number;
  tucse: number;
  paylen: number;
  tucmd: number;
  hdrlen: number;
  mss: number;
}

export const EMPTY_CONTEXT: TxContext = Object.freeze({ ipcss: 0, ipcso: 0, ipcse: 0, tucss: 0, tucso: 0, tucse: 0, paylen: 0, tucmd: 0, hdrlen: 0, mss: 0 });

/** Parses a 16-byte context descriptor. */
export function parseContext(d: Uint8Array): TxContext {
  return {
    ipcss: d[0]!,
    ipcso: d[1]!,
    ipcse: d[2]! | (d[3]! << 8),
    tucss: d[4]!,
    tucso: d[5]!,
    tucse: d[6]! | (d[7]! << 8),
    paylen: d[8]! | (d[9]! << 8) | ((d[10]! & 0x0f) << 16),
    tucmd: d[11]!,
    hdrlen: d[13]!,
    mss: d[14]! | (d[15]! << 8),
  };
}

/**
 * Stores the ones'-complement checksum of packet[start..end] (inclusive end;
 * 0 means the end of the packet) at `at`. Returns a reason if the offsets do
 * not fit the packet (then nothing is written).
 */
export function insertChecksum(packet: Uint8Array, start: number, at: number, end: number): GuestErrorReason | null {
  const stop = end === 0 ? packet.length : end + 1;
  if (start >= packet.length || stop > packet.length || stop <= start || at + 2 > packet.length || at < start) {
    return GUEST_ERROR_REASONS.checksumOffsetsOutsidePacket;
  }
  let value = finish(sumBytes(packet, start, stop));
  if (value === 0 && at + 2 <= stop) value = 0xffff;
  writeU16BE(packet, at, value);
  return null;
}

/**
 * A TSO packet as it leaves the device: TCP becomes one Frame with `gso`
 * (IP total length/checksum filled in, the TCP seed changed from the e1000
 * driver's length-0 pseudo-header to Linux's full-length one), so a receiver
 * that takes GSO gets it whole and everyone else gets `segment()`'s output.
 * UDP TSO (one datagram per segment) is resolved here. Throws OffloadError.
 */
export function tsoFrames(packet: Uint8Array, context: TxContext): Frame[] {
  const { hdrlen, mss } = context;
  if (hdrlen === 0 || hdrlen > MAX_TSO_HEADER) throw new OffloadError(OFFLOAD_ERROR_REASONS.badTsoHeaderLength, String(hdrlen));
  if (mss === 0) throw new OffloadError(OFFLOAD_ERROR_REASONS.badTsoSegmentSize, '0');
  // Checked before anything else about the packet: a tiny MSS is refused, never segmented.
  if (mss < MIN_GSO_SEGMENT_SIZE) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoSegmentSizeBelowFloor, `${mss} < ${MIN_GSO_SEGMENT_SIZE}`);
  if (packet.length <= hdrlen) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoWithoutPayload);
  if (context.paylen !== packet.length - hdrlen) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoPayloadLengthMismatch, `${context.paylen} vs ${packet.length - hdrlen}`);
  const layout = parseLayout(packet);
  if (typeof layout === 'string') throw new OffloadError(OFFLOAD_ERROR_REASONS.unparsableHeaders, layout);
  const isTcp = (context.tucmd & TUCMD_TCP) !== 0;
  const isIpv4 = (context.tucmd & TUCMD_IP) !== 0;
  if ((layout.ipVersion === 4) !== isIpv4) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoIpVersionMismatch);
  if (context.tucss !== layout.l4 || (isIpv4 && context.ipcss !== layout.l3)) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoOffsetsMismatch);
  if (layout.protocol !== (isTcp ? IPPROTO_TCP : IPPROTO_UDP)) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoProtocolMismatch);
  if (!isTcp) {
    if (hdrlen !== layout.l4 + 8) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoHeaderLengthMismatch);
    return segmentUdpDatagrams(packet, mss);
  }
  if (layout.l4 + 20 > packet.length) throw new OffloadError(OFFLOAD_ERROR_REASONS.truncatedTcpHeader);
  const tcpHeaderLength = (packet[layout.l4 + 12]! >> 4) * 4;
  if (hdrlen !== layout.l4 + tcpHeaderLength) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoHeaderLengthMismatch, `${hdrlen} vs ${layout.l4 + tcpHeaderLength}`);
  if (context.tucso !== layout.l4 + 16) throw new OffloadError(OFFLOAD_ERROR_REASONS.tsoChecksumOffsetMismatch);
  if (isIpv4) {
    writeU16BE(packet, layout.l3 + 2, packet.length - layout.l3);
    setIpv4HeaderChecksum(packet, layout.l3);
  } else {
    writeU16BE(packet, layout.l3 + 4, packet.length - layout.l4);
  }
  setPseudoHeaderSeed(packet, layout);
  return [
    {
      data: packet,
      csum: { start: layout.l4, offset: 16 },
      gso: { type: isIpv4 ? 'tcp4' : 'tcp6', segmentSize: mss, headerLength: hdrlen },
    },
  ];
}

/** Inserts an 802.1Q tag after the MAC addresses, moving a pending checksum request with it. */
export function insertVlanTag(frame: Frame, tpid: number, tci: number): Frame {
  const data = frame.data;
  if (data.length < 12) return frame;
  const tagged = new Uint8Array(data.length + 4);
  tagged.set(data.subarray(0, 12));
  writeU16BE(tagged, 12, tpid);
  writeU16BE(tagged, 14, tci);
  tagged.set(data.subarray(12), 16);
  const out: Frame = { data: tagged };
  if (frame.csum) out.csum = { start: frame.csum.start + 4, offset: frame.csum.offset };
  if (frame.gso) out.gso = { ...frame.gso, headerLength: frame.gso.headerLength + 4 };
  if (frame.csumVerified) out.csumVerified = true;
  return out;
}

export const RXD_STAT_DD = 0x01;
export const RXD_STAT_EOP = 0x02;
export const RXD_STAT_IXSM = 0x04;
export const RXD_STAT_VP = 0x08;
export const RXD_STAT_TCPCS = 0x20;
export const RXD_STAT_IPCS = 0x40;
export const RXD_ERR_TCPE = 0x20;
export const RXD_ERR_IPE = 0x40;

/**
 * Receive checksum status for an (untagged or tagged) IPv4 TCP/UDP frame:
 * status IPCS/TCPCS, errors IPE/TCPE. Frames the sender vouches for skip the
 * arithmetic. Anything else gets IXSM ("ignore checksum"): the guest checks it.
 */
export function receiveChecksumStatus(frame: Frame, ipOffload: boolean, l4Offload: boolean): { status: number; errors: number } {
  const data = frame.data;
  const layout = parseLayout(data);
  if (typeof layout === 'string' || layout.ipVersion !== 4) return { status: RXD_STAT_IXSM, errors: 0 };
  const ipLength = readU16BE(data, layout.l3 + 2);
  if (layout.l3 + ipLength > data.length || ipLength < layout.l4 - layout.l3) return { status: RXD_STAT_IXSM, errors: 0 };
  let status = 0;
  let errors = 0;
  if (ipOffload) {
    status |= RXD_STAT_IPCS;
    if (!frame.csumVerified && finish(sumBytes(data, layout.l3, layout.l4)) !== 0) errors |= RXD_ERR_IPE;
  }
  const l4Checked = l4Offload && !layout.fragment && (layout.protocol === IPPROTO_TCP || layout.protocol === IPPROTO_UDP);
  if (l4Checked) {
    status |= RXD_STAT_TCPCS;
    const end = layout.l3 + ipLength;
    const l4Length = end - layout.l4;
    const zeroUdp = layout.protocol === IPPROTO_UDP && l4Length >= 8 && readU16BE(data, layout.l4 + 6) === 0;
    if (!frame.csumVerified && !zeroUdp) {
      const pseudo = sumBytes(data, layout.l3 + 12, layout.l3 + 20) + layout.protocol + l4Length;
      if (finish(sumBytes(data, layout.l4, end, pseudo)) !== 0) errors |= RXD_ERR_TCPE;
    }
  }
  if (!status) status = RXD_STAT_IXSM;
  return { status, errors };
}

/** The Ethernet type that marks a VLAN tag by default (VET). */
export const DEFAULT_VET = ETH_TYPE_VLAN;
