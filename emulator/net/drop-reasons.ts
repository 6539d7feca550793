// The device layer's catalogue of reasons: why a NIC model drops a frame it
// was given (NicCounters.rxDropped), which guest programming errors it
// survived (NicCounters.guestErrors), why an offload cannot be resolved
// (OffloadError.reason) and why a wire loses a frame. One spelling,
// kebab-case, as the switch's catalogue (host/drop-reasons.ts). The counters
// are typed by these unions, so the compiler checks every key a device counts
// and every key a test asserts. A reason is a counter key: free-text detail
// belongs in an error's message, not here.

/**
 * Why a frame's offload (checksum, segmentation) cannot be resolved: thrown as
 * OffloadError by emulator/net/offload.ts and the e1000's TSO context
 * (e1000/offloads.ts). Counted as an rx drop when adapting a frame for a
 * receiver, as a guest error when a guest's own TSO request is malformed.
 */
export const OFFLOAD_ERROR_REASONS = {
  /** Not Ethernet + IPv4/IPv6 headers that fit the frame (the error's detail says what is wrong). */
  unparsableHeaders: 'unparsable-headers',
  /** The protocol has no L4 checksum field, or it lies past the frame's end. */
  noL4ChecksumField: 'no-l4-checksum-field',
  /** completeChecksum was asked for a GSO frame: it must be segmented first. */
  checksumOfUnsegmentedGso: 'checksum-of-unsegmented-gso-frame',
  /** The csum start/offset of a frame point outside it. */
  badChecksumOffsets: 'bad-checksum-offsets',
  /** A GSO frame longer than the largest IP packet (64 KiB). */
  gsoFrameTooLarge: 'gso-frame-too-large',
  /** A GSO segment size that is not a positive integer, or (UDP segmentation) below MIN_GSO_SEGMENT_SIZE (offload.ts). */
  badGsoSegmentSize: 'bad-gso-segment-size',
  /** The GSO type says TCP/UDP over IPv4/IPv6 and the packet is something else. */
  gsoTypeMismatch: 'gso-type-mismatch',
  /** A GSO frame that is already an IP fragment. */
  gsoFrameIsFragment: 'gso-frame-already-fragment',
  /** A GSO type this code does not know. */
  unknownGsoType: 'unknown-gso-type',
  /** The TCP header does not fit the frame. */
  truncatedTcpHeader: 'truncated-tcp-header',
  /** The TCP data offset is below 20 bytes or past the frame's end. */
  badTcpHeaderLength: 'bad-tcp-header-length',
  /** Segmenting would make more segments than the limit. */
  tooManySegments: 'too-many-segments',
  /** The UDP header does not fit the frame. */
  truncatedUdpHeader: 'truncated-udp-header',
  // The e1000's TSO context descriptor against the packet (e1000/offloads.ts tsoFrames).
  /** e1000 TSO: HDRLEN is 0 or beyond what the device supports. */
  badTsoHeaderLength: 'bad-tso-header-length',
  /** e1000 TSO: MSS is 0. */
  badTsoSegmentSize: 'bad-tso-segment-size',
  /** e1000 TSO: MSS is below MIN_GSO_SEGMENT_SIZE (offload.ts): the packet would fan out into too many tiny frames. */
  tsoSegmentSizeBelowFloor: 'tso-segment-size-below-floor',
  /** e1000 TSO: the packet is no longer than its headers. */
  tsoWithoutPayload: 'tso-packet-without-payload',
  /** e1000 TSO: PAYLEN is not the packet's length after HDRLEN. */
  tsoPayloadLengthMismatch: 'tso-payload-length-mismatch',
  /** e1000 TSO: the IP bit of TUCMD disagrees with the packet's IP version. */
  tsoIpVersionMismatch: 'tso-ip-version-mismatch',
  /** e1000 TSO: TUCSS/IPCSS are not where the packet's headers start. */
  tsoOffsetsMismatch: 'tso-offsets-mismatch',
  /** e1000 TSO: the TCP bit of TUCMD disagrees with the packet's protocol. */
  tsoProtocolMismatch: 'tso-protocol-mismatch',
  /** e1000 TSO: HDRLEN is not where the packet's payload starts. */
  tsoHeaderLengthMismatch: 'tso-header-length-mismatch',
  /** e1000 TSO: TUCSO is not the TCP checksum field. */
  tsoChecksumOffsetMismatch: 'tso-checksum-offset-mismatch',
} as const;

export type OffloadErrorReason = (typeof OFFLOAD_ERROR_REASONS)[keyof typeof OFFLOAD_ERROR_REASONS];

/** Why a NIC model drops a frame given to it for its guest (besides an OffloadErrorReason). */
export const RX_DROP_REASONS = {
  /** The link is down (cable unplugged): e1000, virtio, v86-virtio. */
  linkDown: 'link-down',
  /** virtio, v86-virtio: the driver has not set DRIVER_OK (or must reset the device). */
  driverNotReady: 'driver-not-ready',
  /** e1000: the receiver is off (RCTL.EN clear). */
  receiverDisabled: 'receiver-disabled',
  /** No room: the guest posted no free receive buffers and the device's backlog, if it has one, is full. */
  ringFull: 'ring-full',
  /** Shorter than an Ethernet header. */
  runt: 'runt',
  /** e1000: the ethertype says VLAN (VET) but the frame is too short for the tag (under 18 bytes) while VLAN stripping or filtering needs it. */
  malformedVlanTag: 'malformed-vlan-tag',
  /** Longer than the receiver accepts (MTU, LPE, negotiated GSO). */
  oversize: 'oversize',
  /** Not for this NIC's unicast/multicast/broadcast filter. */
  filtered: 'filtered',
  /** e1000: the frame's VLAN is not in the VLAN filter table (VFTA). */
  vlanFiltered: 'vlan-filtered',
  /** virtio without mergeable buffers: the frame does not fit the guest's receive buffer. */
  bufferTooSmall: 'buffer-too-small',
  /** virtio: offloads the guest cannot take could not be resolved (the caller should have; the e1000 counts the OffloadError's own reason). */
  offloadError: 'offload-error',
  /** v86-virtio: a frame still carrying offloads (the device takes none; the sender must resolve them). */
  offloadNotResolved: 'offload-not-resolved',
  /** virtio, e1000: frames waiting in the backlog when the guest reset the device. */
  reset: 'reset',
  /** virtio: frames waiting in the backlog when the device was destroyed. */
  destroyed: 'destroyed',
  /** virtio: frames waiting in the backlog replaced by a restored state. */
  restore: 'restore',
  /** virtio: frames waiting in the backlog when a guest error broke the receive queue; e1000: the frame being written when its descriptor or buffer was outside RAM. */
  deviceError: 'device-error',
  /** Any model: the model threw earlier and is dead (emulator/fault.ts); frames still in flight to it are dropped. */
  nicFailed: 'nic-failed',
} as const;

export type RxDropReason = (typeof RX_DROP_REASONS)[keyof typeof RX_DROP_REASONS] | OffloadErrorReason;

/**
 * Guest programming errors a NIC model survives (counted; the frame or the
 * queue is dropped), besides an OffloadErrorReason from a malformed TSO request.
 */
export const GUEST_ERROR_REASONS = {
  /** e1000: RDH or RDT is beyond the receive ring (RDLEN); the receiver halts. */
  rxRingIndexOutOfRange: 'rx-head-or-tail-beyond-ring',
  /** e1000: TDH or TDT is beyond the transmit ring (TDLEN); the transmitter halts. */
  txRingIndexOutOfRange: 'tx-head-or-tail-beyond-ring',
  /** e1000: a receive descriptor or buffer outside guest RAM; the receiver halts. */
  rxDmaOutsideRam: 'rx-dma-outside-ram',
  /** e1000: a transmit descriptor or buffer outside guest RAM; the transmitter halts. */
  txDmaOutsideRam: 'tx-dma-outside-ram',
  /** e1000: TDT written with PCI bus mastering off. */
  txDoorbellWithoutBusMaster: 'tx-doorbell-without-bus-mastering',
  /** A transmitted packet over 64 KiB (e1000: its buffers; virtio: the chain after the header). */
  txTooBig: 'tx-too-big',
  /** e1000: a transmitted packet of 0 bytes (EOP without data). */
  txEmptyPacket: 'tx-empty-packet',
  /** e1000: checksum insertion offsets (CSO, TUCSO, IPCSO, CSS, CSE) outside the packet; sent without that checksum. */
  checksumOffsetsOutsidePacket: 'checksum-offsets-outside-packet',
  /** virtio: a transmit chain shorter than the header and an Ethernet header; e1000: a packet shorter than an Ethernet header (not padded by TCTL.PSP). */
  txRunt: 'tx-runt',
  /** virtio: NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated. */
  txCsumNotNegotiated: 'tx-csum-not-negotiated',
  /** virtio: csum_start + csum_offset outside the packet. */
  txBadCsumOffset: 'tx-bad-csum-offset',
  /** virtio: a GSO type whose HOST_TSO feature was not negotiated (or that we do not offer). */
  txGsoNotNegotiated: 'tx-gso-not-negotiated',
  /** virtio: GSO without NEEDS_CSUM. */
  txGsoWithoutCsum: 'tx-gso-without-csum',
  /** virtio: GSO with a gso_size below MIN_GSO_SEGMENT_SIZE (net/offload.ts: Linux's TCP_MIN_MSS, 88). */
  txBadGsoSize: 'tx-bad-gso-size',
  /** virtio: GSO headers that are not the TCP/IP the GSO type and csum offsets say. */
  txBadGsoHeaders: 'tx-bad-gso-headers',
  /** virtio: the available index ran more than a queue size ahead. */
  availIndex: 'avail-index',
  /** virtio: a descriptor index outside the queue or the indirect table. */
  descriptorIndex: 'descriptor-index',
  /** virtio: a chain longer than its queue or table (a loop). */
  descriptorLoop: 'descriptor-loop',
  /** virtio: descriptor flags the spec forbids (indirect not negotiated, nested, with NEXT; readable receive buffer). */
  descriptorFlags: 'descriptor-flags',
  /** virtio: an indirect table whose length is 0 or not a multiple of 16. */
  indirectLength: 'indirect-length',
  /** virtio: an indirect table or a buffer outside guest RAM. */
  descriptorAddress: 'descriptor-address',
  /** virtio: a device-readable descriptor after a writable one. */
  descriptorOrder: 'descriptor-order',
  /** virtio: a receive buffer too short for the net header. */
  rxBufferShort: 'rx-buffer-short',
  /** virtio: a control command without a writable ack byte. */
  ctrlNoAck: 'ctrl-no-ack',
  /** virtio: a control command the device refused (ack VIRTIO_NET_ERR). */
  ctrlCommandRefused: 'ctrl-command-refused',
  /** virtio: a queue enabled with a bad size or rings outside RAM / misaligned. */
  queueConfig: 'queue-config',
  /** virtio: a ring access outside guest RAM. */
  dmaOutsideRam: 'dma-outside-ram',
  /** virtio: the driver wrote features the device did not offer or that are inconsistent. */
  featuresRefused: 'features-refused',
} as const;

export type GuestErrorReason = (typeof GUEST_ERROR_REASONS)[keyof typeof GUEST_ERROR_REASONS] | OffloadErrorReason;

/** Why a plain wire (emulator/net/wire.ts) loses a frame, besides an OffloadErrorReason for its receiver. */
export const WIRE_DROP_REASONS = {
  /** The direction's queue is at its limit: the receiving side is not keeping up. */
  queueFull: 'queue-full',
  /** The receiving NIC threw while taking the batch (the wire is then unplugged). */
  receiverFailed: 'receiver-failed',
} as const;

export type WireDropReason = (typeof WIRE_DROP_REASONS)[keyof typeof WIRE_DROP_REASONS] | OffloadErrorReason;

/** Why a cross-thread frame ring (emulator/worker/ring.ts) loses a frame. */
export const RING_DROP_REASONS = {
  /** The ring has no room for the frame: the consuming thread is not keeping up (the producer never blocks). */
  queueFull: WIRE_DROP_REASONS.queueFull,
  /** Empty, longer than the protocol's largest frame, or offload fields that do not fit a ring record. */
  unencodable: 'ring-frame-unencodable',
  /** A record or index read from shared memory is out of bounds (a hostile or broken thread wrote it): the rest of the ring is skipped. */
  corrupt: 'ring-record-corrupt',
} as const;

export type RingDropReason = (typeof RING_DROP_REASONS)[keyof typeof RING_DROP_REASONS];

/**
 * The one helper that counts by key, for every layer (host/counters.ts
 * re-exports it): the key must belong to the record's key type, so a typed
 * counter takes only its catalogue's reasons.
 */
export function bump<K extends string>(record: Partial<Record<K, number>>, key: NoInfer<K>, count = 1): void {
  record[key] = (record[key] ?? 0) + count;
}
