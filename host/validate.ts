// Validation at the port: frames before the extension stack sees anything
// (a drop reason, never a throw: a bad frame is dropped and counted), and the
// MAC and MTU a NIC is created or updated with (a TypeError / RangeError: a bad
// argument is the caller's bug).
import type { Frame } from '../emulator/net/frame.ts';
import { ETH_HEADER_LENGTH, ETH_TYPE_VLAN } from '../emulator/net/frame.ts';
import { MIN_GSO_SEGMENT_SIZE } from '../emulator/net/offload.ts';
import { SWITCH_DROP_REASONS, type SwitchDropReason } from './drop-reasons.ts';

export const VLAN_TAG_LENGTH = 4;

/**
 * Why the frame cannot enter the switch through a port with this MTU, or null.
 * A GSO frame is one large packet still to be segmented: it is measured by one
 * segment (headers + segment size), not by its length, and its segment size
 * has a floor (the segments are built once per receiver).
 */
export function frameProblem(frame: Frame, mtu: number): SwitchDropReason | null {
  const data = frame.data;
  const length = data.length;
  if (length < ETH_HEADER_LENGTH) return SWITCH_DROP_REASONS.runt;
  let header = ETH_HEADER_LENGTH;
  if (data[12] === ETH_TYPE_VLAN >> 8 && data[13] === (ETH_TYPE_VLAN & 0xff)) {
    // A tag needs its 4 bytes plus the inner ethertype; VID 0xFFF is reserved.
    if (length < ETH_HEADER_LENGTH + VLAN_TAG_LENGTH) return SWITCH_DROP_REASONS.malformedVlanTag;
    if ((((data[14]! << 8) | data[15]!) & 0x0fff) === 0x0fff) return SWITCH_DROP_REASONS.malformedVlanTag;
    header += VLAN_TAG_LENGTH;
  }
  const gso = frame.gso;
  if (gso) {
    if (
      !(gso.segmentSize > 0) ||
      !(gso.headerLength >= header) ||
      gso.headerLength > length ||
      !Number.isInteger(gso.segmentSize) ||
      !Number.isInteger(gso.headerLength)
    ) {
      return SWITCH_DROP_REASONS.malformedOffload;
    }
    if (gso.segmentSize < MIN_GSO_SEGMENT_SIZE) return SWITCH_DROP_REASONS.gsoSegmentTooSmall;
    if (gso.headerLength + gso.segmentSize > mtu + header) return SWITCH_DROP_REASONS.oversize;
  } else if (length > mtu + header) {
    return SWITCH_DROP_REASONS.oversize;
  }
  const csum = frame.csum;
  if (csum && !(Number.isInteger(csum.start) && csum.start >= header && csum.start + csum.offset + 2 <= length && csum.offset >= 0)) {
    return SWITCH_DROP_REASONS.malformedOffload;
  }
  return null;
}

/** The MTU range a NIC may have (68: the IPv4 minimum; 65535: the largest IP packet). */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;

export function isValidMtu(mtu: unknown): mtu is number {
  return Number.isInteger(mtu) && (mtu as number) >= MIN_MTU && (mtu as number) <= MAX_MTU;
}

/** Throws unless `mtu` is a valid NIC MTU; `caller` starts the message (e.g. 'createNic'). */
export function checkMtu(mtu: unknown, caller: string): asserts mtu is number {
  if (!isValidMtu(mtu)) throw new RangeError(`${caller}: MTU ${String(mtu)} must be ${MIN_MTU}..${MAX_MTU}`);
}

/** Throws unless `mac` holds a MAC address (6 bytes; only the first 6 of a longer array are used). */
export function checkMac(mac: unknown, caller: string): asserts mac is Uint8Array {
  if (!(mac instanceof Uint8Array) || mac.length < 6) throw new TypeError(`${caller}: mac must be 6 bytes`);
}
