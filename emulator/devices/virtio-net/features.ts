// Feature bits of virtio 1.x (transport) and virtio-net, the set this device
// offers, and the rules a driver's choice must follow. Features are 64-bit, so
// they are bigints here (bitwise ops on plain numbers stop at 32 bits).

export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_GUEST_ECN = 9;
export const VIRTIO_NET_F_GUEST_UFO = 10;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_HOST_ECN = 13;
export const VIRTIO_NET_F_HOST_UFO = 14;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_NET_F_CTRL_RX = 18;
export const VIRTIO_NET_F_CTRL_VLAN = 19;
export const VIRTIO_NET_F_GUEST_ANNOUNCE = 21;
export const VIRTIO_NET_F_MQ = 22;
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

export function hasFeature(features: bigint, n: number): boolean {
  return (features & bit(n)) !== 0n;
}

export function featureSet(...bits: number[]): bigint {
  return bits.reduce((acc, n) => acc | bit(n), 0n);
}

/**
 * What we offer. Not offered: UFO (Linux no longer generates it), ECN (the
 * software segmenter does not carry CWR semantics for it), MQ (one queue pair
 * is plenty for one emulated CPU), CTRL_VLAN, GUEST_ANNOUNCE, EVENT_IDX.
 */
export const OFFERED_FEATURES: bigint = featureSet(
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
);

/** Feature -> features it needs (virtio-net 5.1.3.1). */
const DEPENDENCIES: [number, number[]][] = [
  [VIRTIO_NET_F_GUEST_TSO4, [VIRTIO_NET_F_GUEST_CSUM]],
  [VIRTIO_NET_F_GUEST_TSO6, [VIRTIO_NET_F_GUEST_CSUM]],
  [VIRTIO_NET_F_HOST_TSO4, [VIRTIO_NET_F_CSUM]],
  [VIRTIO_NET_F_HOST_TSO6, [VIRTIO_NET_F_CSUM]],
  [VIRTIO_NET_F_CTRL_RX, [VIRTIO_NET_F_CTRL_VQ]],
  [VIRTIO_NET_F_CTRL_MAC_ADDR, [VIRTIO_NET_F_CTRL_VQ]],
];

/** Why the driver's feature choice is refused, or undefined when it is acceptable. */
export function validateDriverFeatures(driver: bigint, offered: bigint = OFFERED_FEATURES): string | undefined {
  const unknown = driver & ~offered;
  if (unknown !== 0n) return `features not offered: 0x${unknown.toString(16)}`;
  // Modern-only device: a driver that does not speak virtio 1 would misread every structure.
  if (!hasFeature(driver, VIRTIO_F_VERSION_1)) return 'VERSION_1 not accepted';
  for (const [feature, needs] of DEPENDENCIES) {
    if (!hasFeature(driver, feature)) continue;
    for (const need of needs) {
      if (!hasFeature(driver, need)) return `feature ${feature} needs feature ${need}`;
    }
  }
  return undefined;
}

/** The 32-bit window selected by feature_select (0: bits 0-31, 1: bits 32-63, else 0). */
export function featureWindow(features: bigint, select: number): number {
  if (select > 1) return 0;
  return Number((features >> BigInt(select * 32)) & 0xffffffffn);
}

export function withFeatureWindow(features: bigint, select: number, value: number): bigint {
  if (select > 1) return features;
  const shift = BigInt(select * 32);
  return (features & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift);
}
