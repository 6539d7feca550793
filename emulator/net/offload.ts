// Software resolution of transmit offloads (checksum still to do, segmentation
// still to do), for whoever receives a frame it cannot take whole: the plain
// wire, the switch, the virtio-net software path, the e1000's own TSO.
// One code path on purpose: the e1000 TSO and virtio's software GSO must give
// the same segments.
//
// Errors: every function validates the whole frame up front and throws an
// OffloadError (a catalogued `reason` for drop counters, OFFLOAD_ERROR_REASONS in
// drop-reasons.ts, and free-text detail in its message) before producing
// anything, so a malformed frame is dropped whole, never half-segmented.
//
// GSO semantics (as Linux/virtio mean them):
// - tcp4 / tcp6: TSO. Each segment is the headers plus up to `segmentSize`
//   payload bytes; IPv4 total length, IPv4 id + index and header checksum;
//   TCP seq + index * segmentSize; PSH and FIN only on the last, CWR only on
//   the first; the TCP checksum is recomputed in full (the seed is ignored).
// - udp4: UFO, i.e. VIRTIO_NET_HDR_GSO_UDP: the UDP datagram is checksummed
//   whole and then cut into IPv4 *fragments* (same id, offsets in 8-byte
//   units, MF on all but the last), each carrying up to `segmentSize` bytes of
//   IP payload rounded down to a multiple of 8. Only the first fragment holds
//   the UDP header. (The e1000's own UDP TSO, one datagram per segment, is
//   `segmentUdpDatagrams` below; Linux's e1000 driver never uses it.)
// Header offsets are parsed from the packet itself; `gso.headerLength` is a
// hint only (virtio guests put skb_headlen() there, which may be larger).
import type { Frame, GsoType, RxOffloads } from './frame.ts';
import { ETH_HEADER_LENGTH, ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_VLAN } from './frame.ts';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  finish,
  fold,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
  readU16BE,
  readU32BE,
  setIpv4HeaderChecksum,
  sumBytes,
  writeU16BE,
  writeU32BE,
} from './checksum.ts';
import { OFFLOAD_ERROR_REASONS, type OffloadErrorReason } from './drop-reasons.ts';

export class OffloadError extends Error {
  constructor(readonly reason: OffloadErrorReason, detail?: string) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = 'OffloadError';
  }
}

/** Largest GSO frame accepted (a 64 KiB IP packet plus link headers). */
export const MAX_GSO_FRAME_SIZE = 65535 + ETH_HEADER_LENGTH + 8;
/**
 * The smallest segment size a guest may ask segmentation for (e1000 TSO MSS,
 * virtio-net gso_size, the switch port, UDP segmentation): Linux's TCP_MIN_MSS,
 * "Minimal accepted MSS. It is (60+60+8) - (20+20)." (include/net/tcp.h,
 * 88U). Below it one 64 KiB packet fans out into thousands of tiny frames,
 * built once per receiver: a guest's cheap write turned into the host's work and memory.
 */
export const MIN_GSO_SEGMENT_SIZE = 88;
/** Bounds the work one frame can cause (64 KiB at an MSS of 16 bytes). */
export const MAX_SEGMENTS = 4096;

const ETH_TYPE_QINQ = 0x88a8;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
const IP_MF = 0x2000;
const IP_DF = 0x4000;

export interface PacketLayout {
  /** Offset of the IP header (after any VLAN tags). */
  l3: number;
  ipVersion: 4 | 6;
  /** Offset of the TCP/UDP header. */
  l4: number;
  protocol: number;
  /** For IPv4: the packet is a fragment (offset or MF set). */
  fragment: boolean;
}

/** Finds the IP and L4 headers of an Ethernet frame, or returns why it cannot. */
export function parseLayout(data: Uint8Array): PacketLayout | string {
  if (data.length < ETH_HEADER_LENGTH) return 'runt frame';
  let at = 12;
  let type = readU16BE(data, at);
  for (let tags = 0; (type === ETH_TYPE_VLAN || type === ETH_TYPE_QINQ) && tags < 2; tags++) {
    at += 4;
    if (at + 2 > data.length) return 'truncated VLAN tag';
    type = readU16BE(data, at);
  }
  const l3 = at + 2;
  if (type === ETH_TYPE_IPV4) {
    if (l3 + 20 > data.length) return 'truncated IPv4 header';
    if (data[l3]! >> 4 !== 4) return 'bad IP version';
    const ihl = (data[l3]! & 0x0f) * 4;
    if (ihl < 20 || l3 + ihl > data.length) return 'bad IPv4 header length';
    const fragment = (readU16BE(data, l3 + 6) & 0x3fff) !== 0;
    return { l3, ipVersion: 4, l4: l3 + ihl, protocol: data[l3 + 9]!, fragment };
  }
  if (type === ETH_TYPE_IPV6) {
    if (l3 + 40 > data.length) return 'truncated IPv6 header';
    if (data[l3]! >> 4 !== 6) return 'bad IP version';
    // Extension headers are not walked: Linux GSO frames from our guests carry none.
    return { l3, ipVersion: 6, l4: l3 + 40, protocol: data[l3 + 6]!, fragment: false };
  }
  return 'not IP';
}

function layoutOrThrow(data: Uint8Array): PacketLayout {
  const layout = parseLayout(data);
  if (typeof layout === 'string') throw new OffloadError(OFFLOAD_ERROR_REASONS.unparsableHeaders, layout);
  return layout;
}

function pseudoSum(data: Uint8Array, layout: PacketLayout, l4Length: number): number {
  return layout.ipVersion === 4
    ? pseudoHeaderSumV4(data, layout.l3, layout.protocol, l4Length)
    : pseudoHeaderSumV6(data, layout.l3, layout.protocol, l4Length);
}

/**
 * Writes the Linux GSO checksum seed (the folded pseudo-header sum over the
 * whole L4 length, not complemented) into the L4 checksum field. The e1000
 * driver seeds with L4 length 0 for TSO; this is how its frames are normalised.
 */
export function setPseudoHeaderSeed(data: Uint8Array, layout: PacketLayout): void {
  const field = checksumFieldOffset(layout);
  if (field === undefined || field + 2 > data.length) throw new OffloadError(OFFLOAD_ERROR_REASONS.noL4ChecksumField);
  writeU16BE(data, field, fold(pseudoSum(data, layout, data.length - layout.l4)));
}

function checksumFieldOffset(layout: PacketLayout): number | undefined {
  if (layout.protocol === IPPROTO_TCP) return layout.l4 + 16;
  if (layout.protocol === IPPROTO_UDP) return layout.l4 + 6;
  return undefined;
}

/** Stores the full L4 checksum (pseudo-header included, seed ignored) of a TCP/UDP packet whose L4 part runs to the end of `data`. */
function writeL4Checksum(data: Uint8Array, layout: PacketLayout): void {
  const field = checksumFieldOffset(layout)!;
  data[field] = 0;
  data[field + 1] = 0;
  const l4Length = data.length - layout.l4;
  let value = finish(sumBytes(data, layout.l4, data.length, pseudoSum(data, layout, l4Length)));
  // A computed 0 is sent as 0xFFFF (same value in ones' complement; 0 means "none" for UDP).
  if (value === 0) value = 0xffff;
  writeU16BE(data, field, value);
}

/**
 * Resolves `frame.csum` in software: the ones'-complement sum from `start` to
 * the end of the frame (the field holds the pseudo-header sum) is stored,
 * complemented, at start + offset. Frames without `csum` come back as they are.
 */
export function completeChecksum(frame: Frame): Frame {
  const request = frame.csum;
  if (!request) return frame;
  if (frame.gso) throw new OffloadError(OFFLOAD_ERROR_REASONS.checksumOfUnsegmentedGso);
  const { start, offset } = request;
  const length = frame.data.length;
  if (!Number.isInteger(start) || !Number.isInteger(offset) || start < 0 || offset < 0 || start + offset + 2 > length) {
    throw new OffloadError(OFFLOAD_ERROR_REASONS.badChecksumOffsets, `start ${start} offset ${offset} in ${length} bytes`);
  }
  const data = frame.data.slice();
  let value = finish(sumBytes(data, start, length));
  if (value === 0) value = 0xffff;
  writeU16BE(data, start + offset, value);
  return { data, csumVerified: true };
}

function checkGsoFrame(frame: Frame, type: GsoType): { layout: PacketLayout; segmentSize: number } {
  const gso = frame.gso!;
  const data = frame.data;
  if (data.length > MAX_GSO_FRAME_SIZE) throw new OffloadError(OFFLOAD_ERROR_REASONS.gsoFrameTooLarge, `${data.length} bytes`);
  const segmentSize = gso.segmentSize;
  if (!Number.isInteger(segmentSize) || segmentSize <= 0) throw new OffloadError(OFFLOAD_ERROR_REASONS.badGsoSegmentSize, String(segmentSize));
  const layout = layoutOrThrow(data);
  const expectVersion = type === 'tcp6' ? 6 : 4;
  const expectProtocol = type === 'udp4' ? IPPROTO_UDP : IPPROTO_TCP;
  if (layout.ipVersion !== expectVersion || layout.protocol !== expectProtocol) {
    throw new OffloadError(OFFLOAD_ERROR_REASONS.gsoTypeMismatch, `${type} vs IPv${layout.ipVersion} protocol ${layout.protocol}`);
  }
  if (layout.fragment) throw new OffloadError(OFFLOAD_ERROR_REASONS.gsoFrameIsFragment);
  return { layout, segmentSize };
}

/**
 * Resolves `frame.gso` in software (see the top of this file). Every segment
 * has all its checksums complete. Frames without `gso` come back in a list of
 * one, with any pending checksum completed.
 */
export function segment(frame: Frame): Frame[] {
  const gso = frame.gso;
  if (!gso) return [completeChecksum(frame)];
  switch (gso.type) {
    case 'tcp4':
    case 'tcp6':
      return segmentTcp(frame, gso.type);
    case 'udp4':
      return fragmentUdp(frame);
    default:
      throw new OffloadError(OFFLOAD_ERROR_REASONS.unknownGsoType, String((gso as { type: unknown }).type));
  }
}

/** One piece of a large packet: its first `headerLength` bytes, then `length` payload bytes from `offset` after them. */
function piece(data: Uint8Array, headerLength: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(headerLength + length);
  out.set(data.subarray(0, headerLength));
  out.set(data.subarray(headerLength + offset, headerLength + offset + length), headerLength);
  return out;
}

function segmentTcp(frame: Frame, type: 'tcp4' | 'tcp6'): Frame[] {
  const { layout, segmentSize } = checkGsoFrame(frame, type);
  const data = frame.data;
  const { l3, l4 } = layout;
  if (l4 + 20 > data.length) throw new OffloadError(OFFLOAD_ERROR_REASONS.truncatedTcpHeader);
  const tcpHeaderLength = (data[l4 + 12]! >> 4) * 4;
  if (tcpHeaderLength < 20 || l4 + tcpHeaderLength > data.length) throw new OffloadError(OFFLOAD_ERROR_REASONS.badTcpHeaderLength);
  const headerLength = l4 + tcpHeaderLength;
  const payload = data.length - headerLength;
  const count = Math.max(1, Math.ceil(payload / segmentSize));
  if (count > MAX_SEGMENTS) throw new OffloadError(OFFLOAD_ERROR_REASONS.tooManySegments, `${count}`);

  const seq0 = readU32BE(data, l4 + 4);
  const flags = data[l4 + 13]!;
  const id0 = layout.ipVersion === 4 ? readU16BE(data, l3 + 4) : 0;
  const out: Frame[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const offset = i * segmentSize;
    const length = Math.min(segmentSize, payload - offset);
    const seg = piece(data, headerLength, offset, length);
    if (layout.ipVersion === 4) {
      writeU16BE(seg, l3 + 2, seg.length - l3);
      writeU16BE(seg, l3 + 4, (id0 + i) & 0xffff);
      setIpv4HeaderChecksum(seg, l3);
    } else {
      writeU16BE(seg, l3 + 4, seg.length - l4);
    }
    writeU32BE(seg, l4 + 4, (seq0 + offset) >>> 0);
    let segFlags = flags;
    if (i !== count - 1) segFlags &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) segFlags &= ~TCP_CWR;
    seg[l4 + 13] = segFlags;
    writeL4Checksum(seg, layout);
    out[i] = { data: seg, csumVerified: true };
  }
  return out;
}

function fragmentUdp(frame: Frame): Frame[] {
  const { layout, segmentSize } = checkGsoFrame(frame, 'udp4');
  const { l3, l4 } = layout;
  if (l4 + 8 > frame.data.length) throw new OffloadError(OFFLOAD_ERROR_REASONS.truncatedUdpHeader);
  if (segmentSize < MIN_GSO_SEGMENT_SIZE) throw new OffloadError(OFFLOAD_ERROR_REASONS.badGsoSegmentSize, `${segmentSize} is below ${MIN_GSO_SEGMENT_SIZE}`);
  const fragmentPayload = segmentSize & ~7;
  const ipPayload = frame.data.length - l4;
  const count = Math.max(1, Math.ceil(ipPayload / fragmentPayload));
  if (count > MAX_SEGMENTS) throw new OffloadError(OFFLOAD_ERROR_REASONS.tooManySegments, `${count}`);

  // Checksum the datagram whole first: fragments carry no L4 checksum of their own.
  const whole = frame.data.slice();
  writeU16BE(whole, l4 + 4, ipPayload);
  writeL4Checksum(whole, layout);
  if (count === 1) {
    writeU16BE(whole, l3 + 2, whole.length - l3);
    setIpv4HeaderChecksum(whole, l3);
    return [{ data: whole, csumVerified: true }];
  }
  const flagsField = readU16BE(whole, l3 + 6) & ~(IP_MF | IP_DF | 0x1fff);
  const out: Frame[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const offset = i * fragmentPayload;
    const length = Math.min(fragmentPayload, ipPayload - offset);
    const fragment = piece(whole, l4, offset, length);
    writeU16BE(fragment, l3 + 2, fragment.length - l3);
    writeU16BE(fragment, l3 + 6, flagsField | (i !== count - 1 ? IP_MF : 0) | (offset >> 3));
    setIpv4HeaderChecksum(fragment, l3);
    out[i] = { data: fragment, csumVerified: true };
  }
  return out;
}

/**
 * The e1000's UDP TSO (TSE without the TCP bit): one UDP datagram per segment,
 * each with its own headers, UDP length and checksum, IPv4 id + index.
 */
export function segmentUdpDatagrams(data: Uint8Array, segmentSize: number): Frame[] {
  if (data.length > MAX_GSO_FRAME_SIZE) throw new OffloadError(OFFLOAD_ERROR_REASONS.gsoFrameTooLarge, `${data.length} bytes`);
  if (!Number.isInteger(segmentSize) || segmentSize < MIN_GSO_SEGMENT_SIZE) throw new OffloadError(OFFLOAD_ERROR_REASONS.badGsoSegmentSize, String(segmentSize));
  const layout = layoutOrThrow(data);
  if (layout.ipVersion !== 4 || layout.protocol !== IPPROTO_UDP) throw new OffloadError(OFFLOAD_ERROR_REASONS.gsoTypeMismatch);
  const { l3, l4 } = layout;
  const headerLength = l4 + 8;
  if (headerLength > data.length) throw new OffloadError(OFFLOAD_ERROR_REASONS.truncatedUdpHeader);
  const payload = data.length - headerLength;
  const count = Math.max(1, Math.ceil(payload / segmentSize));
  if (count > MAX_SEGMENTS) throw new OffloadError(OFFLOAD_ERROR_REASONS.tooManySegments, `${count}`);
  const id0 = readU16BE(data, l3 + 4);
  const out: Frame[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const offset = i * segmentSize;
    const length = Math.min(segmentSize, payload - offset);
    const seg = piece(data, headerLength, offset, length);
    writeU16BE(seg, l3 + 2, seg.length - l3);
    writeU16BE(seg, l3 + 4, (id0 + i) & 0xffff);
    setIpv4HeaderChecksum(seg, l3);
    writeU16BE(seg, l4 + 4, seg.length - l4);
    writeL4Checksum(seg, layout);
    out[i] = { data: seg, csumVerified: true };
  }
  return out;
}

/** A receiver with offloads `rx` takes GSO frame `frame` unsegmented (adaptForReceiver builds no segments for it). */
export function takesGsoWhole(frame: Frame, rx: RxOffloads): boolean {
  return frame.gso !== undefined && rx.gso.has(frame.gso.type) && rx.csum && frame.data.length <= rx.maxFrameSize;
}

/**
 * What a receiver with offloads `rx` gets for `frame`: the frame itself when it
 * can take it whole, else its segments and/or a completed checksum.
 */
export function adaptForReceiver(frame: Frame, rx: RxOffloads): Frame[] {
  if (frame.gso) return takesGsoWhole(frame, rx) ? [frame] : segment(frame);
  if (frame.csum && !rx.csum) return [completeChecksum(frame)];
  return [frame];
}
