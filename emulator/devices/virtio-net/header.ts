// struct virtio_net_hdr (virtio 1.x: always 12 bytes, num_buffers included)
// <-> the offload metadata of a Frame.
import type { Frame, GsoType } from '../../net/frame.ts';
import type { GuestMemory } from '../../platform.ts';
import { MIN_GSO_SEGMENT_SIZE, parseLayout } from '../../net/offload.ts';
import { GUEST_ERROR_REASONS, type GuestErrorReason } from '../../net/drop-reasons.ts';

export const NET_HDR_SIZE = 12;
export const HDR_F_NEEDS_CSUM = 1;
export const HDR_F_DATA_VALID = 2;
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;
export const GSO_TCPV6 = 4;
export const GSO_ECN = 0x80;

const TCP_CSUM_OFFSET = 16;
const IPPROTO_TCP = 6;

export interface NetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers: number;
}

export function parseHeader(bytes: Uint8Array): NetHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, NET_HDR_SIZE);
  return {
    flags: bytes[0]!,
    gsoType: bytes[1]!,
    hdrLen: view.getUint16(2, true),
    gsoSize: view.getUint16(4, true),
    csumStart: view.getUint16(6, true),
    csumOffset: view.getUint16(8, true),
    numBuffers: view.getUint16(10, true),
  };
}

/** The header straight from guest memory (the caller checked that 12 bytes at `addr` are RAM). */
export function readHeaderAt(memory: GuestMemory, addr: number): NetHeader {
  const first = memory.readU16(addr);
  return {
    flags: first & 0xff,
    gsoType: first >> 8,
    hdrLen: memory.readU16(addr + 2),
    gsoSize: memory.readU16(addr + 4),
    csumStart: memory.readU16(addr + 6),
    csumOffset: memory.readU16(addr + 8),
    numBuffers: memory.readU16(addr + 10),
  };
}

export function writeHeader(header: NetHeader, out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, NET_HDR_SIZE);
  out[0] = header.flags;
  out[1] = header.gsoType;
  view.setUint16(2, header.hdrLen, true);
  view.setUint16(4, header.gsoSize, true);
  view.setUint16(6, header.csumStart, true);
  view.setUint16(8, header.csumOffset, true);
  view.setUint16(10, header.numBuffers, true);
}

/** The transmit offloads the driver negotiated (what it may ask of us). */
export interface TxOffloads {
  csum: boolean;
  tso4: boolean;
  tso6: boolean;
}

/**
 * The Frame for a packet the guest transmitted with `header`, or the guest
 * error to count when dropping it. The header length is recomputed from the packet: Linux puts
 * skb_headlen() in hdr_len, which may include payload bytes.
 */
export function frameFromTx(header: NetHeader, data: Uint8Array, offloads: TxOffloads): Frame | GuestErrorReason {
  const frame: Frame = { data };
  if (header.flags & HDR_F_NEEDS_CSUM) {
    if (!offloads.csum) return GUEST_ERROR_REASONS.txCsumNotNegotiated;
    if (header.csumStart + header.csumOffset + 2 > data.length) return GUEST_ERROR_REASONS.txBadCsumOffset;
    frame.csum = { start: header.csumStart, offset: header.csumOffset };
  }
  const gsoType = header.gsoType & ~GSO_ECN;
  if (gsoType === GSO_NONE) return frame;
  let type: GsoType;
  if (gsoType === GSO_TCPV4 && offloads.tso4) type = 'tcp4';
  else if (gsoType === GSO_TCPV6 && offloads.tso6) type = 'tcp6';
  else return GUEST_ERROR_REASONS.txGsoNotNegotiated;
  if (!frame.csum) return GUEST_ERROR_REASONS.txGsoWithoutCsum;
  // The floor (Linux's TCP_MIN_MSS): a smaller size only multiplies the segments every receiver builds.
  if (header.gsoSize < MIN_GSO_SEGMENT_SIZE) return GUEST_ERROR_REASONS.txBadGsoSize;
  const layout = parseLayout(data);
  if (typeof layout === 'string') return GUEST_ERROR_REASONS.txBadGsoHeaders;
  // An IP fragment cannot be segmented (the segmenter refuses it): refused here rather than passed on half-valid.
  if (layout.protocol !== IPPROTO_TCP || layout.ipVersion !== (type === 'tcp4' ? 4 : 6) || layout.fragment) return GUEST_ERROR_REASONS.txBadGsoHeaders;
  if (layout.l4 !== header.csumStart || header.csumOffset !== TCP_CSUM_OFFSET || layout.l4 + 20 > data.length) return GUEST_ERROR_REASONS.txBadGsoHeaders;
  const headerLength = layout.l4 + (data[layout.l4 + 12]! >> 4) * 4;
  if (headerLength < layout.l4 + 20 || headerLength > data.length) return GUEST_ERROR_REASONS.txBadGsoHeaders;
  // A packet that already fits one segment needs no segmentation.
  if (data.length - headerLength <= header.gsoSize) return frame;
  frame.gso = { type, segmentSize: header.gsoSize, headerLength };
  return frame;
}

/** The header the guest gets in front of `frame` (its offloads were checked against the negotiated ones). */
export function rxHeaderFor(frame: Frame, numBuffers: number): NetHeader {
  const header: NetHeader = { flags: 0, gsoType: GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, numBuffers };
  if (frame.csum) {
    header.flags = HDR_F_NEEDS_CSUM;
    header.csumStart = frame.csum.start;
    header.csumOffset = frame.csum.offset;
  } else if (frame.csumVerified) {
    header.flags = HDR_F_DATA_VALID;
  }
  if (frame.gso) {
    header.gsoType = frame.gso.type === 'tcp4' ? GSO_TCPV4 : frame.gso.type === 'tcp6' ? GSO_TCPV6 : GSO_UDP;
    header.gsoSize = frame.gso.segmentSize;
    header.hdrLen = frame.gso.headerLength;
  }
  return header;
}
