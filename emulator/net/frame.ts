// The one frame interface shared by the NIC models (e1000, virtio-net), the
// plain wire and the switch ports. Frames are plain Ethernet (no FCS, no
// preamble); a VLAN tag, when present, is inside `data`.

/**
 * A checksum still to do (virtio's NEEDS_CSUM, e1000's TUCSS/TUCSO): the
 * ones'-complement sum of data[start..end) is stored, complemented and
 * big-endian, at data[start + offset]. The field already holds the
 * pseudo-header sum, as the Linux stack leaves it.
 */
export interface ChecksumRequest {
  start: number;
  offset: number;
}

export type GsoType = 'tcp4' | 'tcp6' | 'udp4';

/**
 * A segmentation still to do (virtio GSO, e1000 TSO). `data` is one large
 * packet: headers of `headerLength` bytes, then the payload, cut into
 * `segmentSize`-byte pieces by whoever cannot carry it whole. The L4 checksum
 * field holds the pseudo-header sum over the whole L4 length (Linux's
 * convention); a device whose hardware convention differs (e1000: length 0)
 * normalises it when it builds the Frame. A GSO frame always has `csum` too.
 */
export interface GsoRequest {
  type: GsoType;
  segmentSize: number;
  headerLength: number;
}

export interface Frame {
  data: Uint8Array;
  csum?: ChecksumRequest;
  gso?: GsoRequest;
  /** The sender knows every checksum in it is right (a receiver may report "checksum verified"). */
  csumVerified?: boolean;
}

/** What a receiver can take as is; anything else is segmented/checksummed in software first. */
export interface RxOffloads {
  /** Takes frames with a checksum still to do. */
  csum: boolean;
  /** GSO types it takes whole. */
  gso: ReadonlySet<GsoType>;
  /** Largest frame it takes whole (headers included), e.g. 65550 for virtio with GSO. */
  maxFrameSize: number;
}

export const NO_RX_OFFLOADS: RxOffloads = Object.freeze({ csum: false, gso: new Set<GsoType>(), maxFrameSize: 65535 });

/** Anything frames can be handed to, a batch at a time. */
export interface FrameSink {
  deliver(frames: readonly Frame[]): void;
}

export const ETH_HEADER_LENGTH = 14;
export const ETH_TYPE_IPV4 = 0x0800;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_VLAN = 0x8100;
export const ETH_TYPE_ARP = 0x0806;

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** A MAC as text: `02:00:00:00:00:01` (the one form in snapshots, events and the UI). */
export function formatMac(mac: Uint8Array): string {
  return formatMacAt(mac, 0);
}

/**
 * The MAC at `bytes[offset..offset+6)`, as formatMac writes it, without a
 * subarray (hot paths read MACs inside frames). A truncated frame gives the
 * bytes that are there.
 */
export function formatMacAt(bytes: Uint8Array, offset: number): string {
  const end = Math.min(offset + 6, bytes.length);
  let text = '';
  for (let i = offset; i < end; i++) text += (i === offset ? '' : ':') + HEX_BYTE[bytes[i]!];
  return text;
}

/** Whether `data[offset..offset+6)` is `mac` (unrolled: the switch checks every frame's source). */
export function sameMac(data: Uint8Array, offset: number, mac: Uint8Array): boolean {
  return (
    data[offset] === mac[0] &&
    data[offset + 1] === mac[1] &&
    data[offset + 2] === mac[2] &&
    data[offset + 3] === mac[3] &&
    data[offset + 4] === mac[4] &&
    data[offset + 5] === mac[5]
  );
}

/** Reads formatMac's form (or with dashes); throws on anything else. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new Error(`not a MAC address: ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}
