// 802.1Q access and trunk ports from the port's VLAN property. The policy
// object classifies a frame arriving on the port (which VLAN it belongs to, or
// why it is dropped), says which VLANs the port carries, and rewrites the tag
// for delivery out of the port. The switch applies it; the forwarding
// extension only picks destinations in the frame's VLAN and vetoes properties
// it cannot enforce.
//
// Against VLAN hopping: an access (or VLAN-less) port takes untagged and
// priority-tagged frames only. A second tag behind the priority tag, or an
// 802.1ad service tag, is refused at the port: once the outer tag is
// stripped on the way out, the inner one would put the frame on another VLAN
// at the next hop (a guest on a trunk, a bridge). A copy whose rewritten tag
// would leave a malformed frame is excluded (egressProblem), never delivered.
import type { Frame } from '../../emulator/net/frame.ts';
import { ETH_TYPE_VLAN } from '../../emulator/net/frame.ts';

/** The 802.1ad service tag (QinQ outer tag). */
export const ETH_TYPE_SERVICE_VLAN = 0x88a8;
import { SWITCH_DROP_REASONS } from '../drop-reasons.ts';

export type VlanProperty =
  | { type: 'vlan'; mode: 'access'; vlanId: number }
  | { type: 'vlan'; mode: 'trunk'; allowed: readonly number[]; nativeVlanId?: number }
  /** Private VLANs (Hyper-V has them): accepted as a property type, enforced by no built-in forwarder. */
  | { type: 'vlan'; mode: 'private'; primaryVlanId: number; secondaryVlanId: number; pvlanMode: 'isolated' | 'community' | 'promiscuous' };

/** The internal VLAN of untagged traffic on ports without a VLAN property. */
export const DEFAULT_VLAN = 0;

export function isValidVlanId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 4094;
}

/** Why a VLAN property cannot be enforced by the built-in policy, or null when it can. */
export function vlanPropertyProblem(property: VlanProperty): string | null {
  switch (property.mode) {
    case 'access':
      return isValidVlanId(property.vlanId) ? null : `access VLAN id ${String(property.vlanId)} is not in 1..4094`;
    case 'trunk': {
      if (!Array.isArray(property.allowed) || property.allowed.length === 0) return 'a trunk needs a non-empty allowed VLAN list';
      const bad = property.allowed.find((id) => !isValidVlanId(id));
      if (bad !== undefined) return `trunk VLAN id ${String(bad)} is not in 1..4094`;
      if (property.nativeVlanId !== undefined && !isValidVlanId(property.nativeVlanId)) {
        return `native VLAN id ${String(property.nativeVlanId)} is not in 1..4094`;
      }
      return null;
    }
    case 'private':
      return 'private VLANs are not supported';
    default:
      return `unknown VLAN mode ${JSON.stringify((property as { mode: unknown }).mode)}`;
  }
}

/** Why the port's VLAN policy drops a frame. */
export type VlanDropReason =
  | typeof SWITCH_DROP_REASONS.vlanTaggedOnAccessPort
  | typeof SWITCH_DROP_REASONS.vlanStackedTagOnAccessPort
  | typeof SWITCH_DROP_REASONS.vlanServiceTagOnAccessPort
  | typeof SWITCH_DROP_REASONS.vlanUntaggedOnTrunk
  | typeof SWITCH_DROP_REASONS.vlanNotAllowed;

/** Result of classifying a frame: a VLAN id >= 0, or a drop reason. */
export type VlanClass = number | VlanDropReason;

export class VlanPolicy {
  static readonly DEFAULT = new VlanPolicy('none', DEFAULT_VLAN, new Set(), -1);

  private constructor(
    readonly mode: 'none' | 'access' | 'trunk',
    /** Access VLAN (or DEFAULT_VLAN with no property). */
    readonly accessVlan: number,
    readonly allowed: ReadonlySet<number>,
    /** Untagged traffic on a trunk belongs here; -1: untagged frames are dropped. */
    readonly nativeVlan: number,
  ) {}

  /** The policy a VLAN property describes (validate it with vlanPropertyProblem first). */
  static from(property: VlanProperty | undefined): VlanPolicy {
    if (!property) return VlanPolicy.DEFAULT;
    if (property.mode === 'access') return new VlanPolicy('access', property.vlanId, new Set([property.vlanId]), -1);
    if (property.mode === 'trunk') {
      const allowed = new Set(property.allowed);
      const native = property.nativeVlanId ?? -1;
      if (native >= 0) allowed.add(native);
      return new VlanPolicy('trunk', -1, allowed, native);
    }
    throw new Error(`VLAN mode ${property.mode} cannot be enforced`);
  }

  /** Whether the port carries this VLAN. */
  admits(vlan: number): boolean {
    return this.mode === 'trunk' ? this.allowed.has(vlan) : vlan === this.accessVlan;
  }

  /**
   * The VLAN of a frame arriving on the port, or why the port drops it
   * (validate.ts frameProblem has checked the outer 802.1Q tag).
   */
  classify(data: Uint8Array): VlanClass {
    const tci = frameTci(data);
    const vid = tci < 0 ? 0 : tci & 0x0fff;
    if (this.mode !== 'trunk') {
      if (tci < 0) return isTagAt(data, 12) ? SWITCH_DROP_REASONS.vlanServiceTagOnAccessPort : this.accessVlan;
      if (vid !== 0) return SWITCH_DROP_REASONS.vlanTaggedOnAccessPort;
      // VID 0 is a priority tag, not a VLAN: the frame is untagged traffic, unless another tag hides behind it.
      return isTagAt(data, 16) ? SWITCH_DROP_REASONS.vlanStackedTagOnAccessPort : this.accessVlan;
    }
    if (vid === 0) return this.nativeVlan >= 0 ? this.nativeVlan : SWITCH_DROP_REASONS.vlanUntaggedOnTrunk;
    return this.allowed.has(vid) ? vid : SWITCH_DROP_REASONS.vlanNotAllowed;
  }

  /** Whether frames of this VLAN leave the port tagged. */
  tagsOnEgress(vlan: number): boolean {
    return this.mode === 'trunk' && vlan !== this.nativeVlan;
  }
}

/** The frame's 802.1Q TCI, or -1 when it has no tag (length already checked >= 18 when tagged). */
export function frameTci(data: Uint8Array): number {
  return data[12] === ETH_TYPE_VLAN >> 8 && data[13] === (ETH_TYPE_VLAN & 0xff) ? (data[14]! << 8) | data[15]! : -1;
}

/** Whether the ethertype at `offset` is an 802.1Q or 802.1ad tag (false past the end). */
export function isTagAt(data: Uint8Array, offset: number): boolean {
  const high = data[offset];
  const low = data[offset + 1];
  return (high === ETH_TYPE_VLAN >> 8 && low === (ETH_TYPE_VLAN & 0xff)) || (high === ETH_TYPE_SERVICE_VLAN >> 8 && low === (ETH_TYPE_SERVICE_VLAN & 0xff));
}

export type VlanEgressDropReason = typeof SWITCH_DROP_REASONS.vlanEgressMalformed;

/**
 * Why the copy of `data` leaving a port (tagged or untagged) would be
 * malformed, or null. The copy is the Ethernet addresses, our tag when
 * tagged, then the frame from behind its outer 802.1Q tag (if any): every tag
 * stacked there must be whole (TPID, TCI and the next ethertype) and an
 * 802.1Q one must not carry the reserved VID 0xFFF, as validate.ts asks of
 * the outer tag of frames coming in. Allocation-free: the data path asks it
 * per frame.
 */
export function egressProblem(data: Uint8Array): VlanEgressDropReason | null {
  // Plain Ethernet (no tag of either kind at 12, whole ethertype): nothing to check. The common case, kept small to inline.
  const high = data[12];
  if (high !== ETH_TYPE_VLAN >> 8 && high !== ETH_TYPE_SERVICE_VLAN >> 8 && data.length >= 14) return null;
  return stackedTagProblem(data);
}

function stackedTagProblem(data: Uint8Array): VlanEgressDropReason | null {
  let offset = frameTci(data) < 0 ? 12 : 16;
  // Our tag, added or not, is whole by construction: only the part behind it can be malformed.
  if (data.length < offset + 2) return SWITCH_DROP_REASONS.vlanEgressMalformed;
  for (; isTagAt(data, offset); offset += 4) {
    if (data.length < offset + 6) return SWITCH_DROP_REASONS.vlanEgressMalformed;
    if (data[offset] === ETH_TYPE_VLAN >> 8 && (((data[offset + 2]! << 8) | data[offset + 3]!) & 0x0fff) === 0x0fff) {
      return SWITCH_DROP_REASONS.vlanEgressMalformed;
    }
  }
  return null;
}

/**
 * The frame as it leaves through a port: tagged with `vlan` or untagged,
 * offload offsets shifted to match; null when the copy would be malformed
 * (egressProblem: the data path excludes such copies before they get here).
 */
export function frameForEgress(frame: Frame, vlan: number, tagged: boolean): Frame | null {
  const data = frame.data;
  if (egressProblem(data) !== null) return null;
  const tci = frameTci(data);
  if (!tagged) {
    if (tci < 0) return frame;
    const out = new Uint8Array(data.length - 4);
    out.set(data.subarray(0, 12), 0);
    out.set(data.subarray(16), 12);
    return shifted(frame, out, -4);
  }
  if (tci >= 0) {
    if ((tci & 0x0fff) === vlan) return frame;
    const out = Uint8Array.from(data);
    // Keep the priority bits, replace the VID.
    out[14] = (data[14]! & 0xf0) | ((vlan >> 8) & 0x0f);
    out[15] = vlan & 0xff;
    return { ...frame, data: out };
  }
  const out = new Uint8Array(data.length + 4);
  out.set(data.subarray(0, 12), 0);
  out[12] = ETH_TYPE_VLAN >> 8;
  out[13] = ETH_TYPE_VLAN & 0xff;
  out[14] = (vlan >> 8) & 0x0f;
  out[15] = vlan & 0xff;
  out.set(data.subarray(12), 16);
  return shifted(frame, out, 4);
}

function shifted(frame: Frame, data: Uint8Array, delta: number): Frame {
  const out: Frame = { ...frame, data };
  if (frame.csum) out.csum = { ...frame.csum, start: frame.csum.start + delta };
  if (frame.gso) out.gso = { ...frame.gso, headerLength: frame.gso.headerLength + delta };
  return out;
}
