// The switch's catalogue of reasons: why a frame is dropped at a port or in
// the data path, why a destination copy is excluded, why an injection is
// refused, and why the built-in extensions drop. One spelling, kebab-case, as
// the device catalogue (emulator/net/drop-reasons.ts). A reason is a counter
// key and the `reason` of a drop event: free-text detail goes elsewhere.
import type { OffloadErrorReason } from '../emulator/net/drop-reasons.ts';

/** Drops and exclusions by the switch itself (ports, data path, VLAN policy). */
export const SWITCH_DROP_REASONS = {
  // Port validation (validate.ts frameProblem), before any extension sees the frame.
  /** Shorter than an Ethernet header. */
  runt: 'runt',
  /** Longer than the port's MTU plus headers (a GSO frame: one segment is). */
  oversize: 'oversize',
  /** An 802.1Q tag cut short, or with the reserved VID 0xFFF. */
  malformedVlanTag: 'malformed-vlan-tag',
  /** GSO or checksum offload fields that do not fit the frame. */
  malformedOffload: 'malformed-offload',
  /** A GSO segment size below MIN_GSO_SEGMENT_SIZE (Linux's TCP_MIN_MSS): it would multiply into thousands of segments per receiver. */
  gsoSegmentTooSmall: 'gso-segment-too-small',
  // What reached Switch.ingress or an injection is not frames.
  /** Switch.ingress for a port/NIC the switch does not have. */
  unknownNic: 'unknown-nic',
  /** Switch.ingress was given something other than an array of frames. */
  notAFrameArray: 'not-a-frame-array',
  /** An element without a Uint8Array `data`. */
  notAFrame: 'not-a-frame',
  // The port's VLAN policy (extensions/vlan.ts VlanPolicy.classify).
  /** A frame tagged with a VLAN arrived on an access port. */
  vlanTaggedOnAccessPort: 'vlan-tagged-on-access-port',
  /** An untagged frame arrived on a trunk without a native VLAN. */
  vlanUntaggedOnTrunk: 'vlan-untagged-on-trunk',
  /** A frame tagged with a VLAN the trunk does not carry. */
  vlanNotAllowed: 'vlan-not-allowed',
  /**
   * A frame from an access (or VLAN-less) port with an 802.1Q or 802.1ad tag
   * behind its priority tag: double tagging, to reach another VLAN once the
   * outer tag is stripped.
   */
  vlanStackedTagOnAccessPort: 'vlan-stacked-tag-on-access-port',
  /** A frame from an access (or VLAN-less) port whose outer tag is an 802.1ad (0x88a8) service tag. */
  vlanServiceTagOnAccessPort: 'vlan-service-tag-on-access-port',
  // The data path (datapath.ts).
  /** From a NIC that is not (or no longer) connected. */
  nicNotConnected: 'nic-not-connected',
  /** The source MAC is not the NIC's own and the port does not allow MAC spoofing. */
  macSpoofing: 'mac-spoofing',
  /** Neither the forwarding extension nor the switch's flood gave the frame a destination. */
  noDestination: 'no-destination',
  /** Excluded copy: the destination NIC is not connected any more. */
  destinationNotConnected: 'destination-not-connected',
  /** Excluded copy: the destination is the frame's own source NIC. */
  destinationIsSource: 'destination-is-source',
  /** Excluded copy: the destination's port does not carry the frame's VLAN. */
  vlanMismatch: 'vlan-mismatch',
  /**
   * Excluded copy: with its tag rewritten for the destination port the frame
   * would be malformed (a tag behind ours cut short, or an 802.1Q one with the
   * reserved VID 0xFFF), which a receiving NIC may choke on.
   */
  vlanEgressMalformed: 'vlan-egress-malformed',
} as const;

/** Frames left in a batch when a filter or forwarding extension threw: `extension-error:<extension name>`. */
export type ExtensionErrorDropReason = `extension-error:${string}`;

export function extensionErrorReason(extensionName: string): ExtensionErrorDropReason {
  return `extension-error:${extensionName}`;
}

export type SwitchDropReason = (typeof SWITCH_DROP_REASONS)[keyof typeof SWITCH_DROP_REASONS] | ExtensionErrorDropReason;

/** Why context.inject refused frames (InjectResult.reason, SwitchCounters.refusedInjections). */
export const INJECTION_REFUSALS = {
  /** The frames are not an array. */
  notAFrameArray: 'inject-not-a-frame-array',
  /** options.source names a NIC that is not connected. */
  sourceNotConnected: 'inject-source-not-connected',
  /** A capture extension asked for a destination (captures only originate). */
  destinationNotAllowedForCapture: 'inject-destination-not-allowed-for-capture',
  /** options.destination names a NIC that is not connected. */
  destinationNotConnected: 'inject-destination-not-connected',
  /** The extension is no longer in the stack. */
  extensionNotInStack: 'inject-extension-not-in-stack',
} as const;

export type InjectionRefusal = (typeof INJECTION_REFUSALS)[keyof typeof INJECTION_REFUSALS];

/** Drops by the extensions that come with the switch. */
export const EXTENSION_DROP_REASONS = {
  /** mac-learning: the destination was learned on the frame's own NIC (OVS drops these too). */
  hairpin: 'hairpin',
  /** acl: no rule matched and the default action is deny. */
  aclDefault: 'acl:default',
  // impairment (extensions/impairment.ts), netem's knobs per port and direction.
  /** impairment: the port's link is set down (the device catalogue's spelling: the cable is out). */
  linkDown: 'link-down',
  /** impairment: lost by the port's loss percentage. */
  impairmentLoss: 'impairment-loss',
  /** impairment: the port's delay/rate queue already holds `limitFrames` frames (tail drop, as netem's limit). */
  impairmentQueueFull: 'impairment-queue-full',
  /**
   * impairment: excluded copy that is not lost but late: the copy toward a
   * port with a receive impairment leaves its batch and is delivered again,
   * originated by the extension, when its delay or rate allows.
   */
  impairmentDeferred: 'impairment-deferred',
  /** impairment: frames still queued for or from a NIC when it disconnected or the extension was removed (netem's queue reset). */
  impairmentFlushed: 'impairment-flushed',
  // guards (extensions/guards.ts), Hyper-V's DHCP guard and router guard on VM ports.
  /** dhcp-guard: a DHCP server message (UDP source port 67, or a DHCPv6 server message) from a VM port not allowed to serve. */
  dhcpGuard: 'dhcp-guard',
  /** router-guard: an IPv6 router advertisement or redirect, or an ICMP redirect/router advertisement, from a VM port not allowed to route. */
  routerGuard: 'router-guard',
  /** A guard: an IPv6 first fragment whose extension-header chain ends before the upper-layer header (RFC 7113's evasion), from a guarded port. */
  guardUnparsableIpv6: 'guard-unparsable-ipv6',
  /** dhcp-server: a frame to UDP port 67 that is not a well-formed DHCP message (truncated, bad options, bad cookie). */
  dhcpMalformed: 'dhcp-malformed',
} as const;

/** acl: a deny rule matched: `acl:<rule name>` (the name is the user's, default "rule N"). */
export type AclRuleDropReason = `acl:${string}`;

export function aclRuleReason(ruleName: string): AclRuleDropReason {
  return `acl:${ruleName}`;
}

export type BuiltInExtensionDropReason = (typeof EXTENSION_DROP_REASONS)[keyof typeof EXTENSION_DROP_REASONS] | AclRuleDropReason;

/**
 * What an extension may drop or exclude with. Extensions by third parties
 * name their own reasons, so this stays open: `string & {}` accepts any
 * string while keeping the built-in spellings in the editor's completion
 * (a plain `| string` would swallow them). The compiler's check is on the
 * switch's own code: frameProblem, the VLAN policy and the data path produce
 * only SwitchDropReason, and the built-in extensions drop with the constants above.
 */
export type ExtensionDropReason = BuiltInExtensionDropReason | (string & {});

/** Every reason the switch counts. */
export type DropReason = SwitchDropReason | ExtensionDropReason;

/**
 * Drops by reason (PortCounters.drops, SwitchCounters.drops). The fixed
 * reasons are listed for readers (completion, their doc lines); any other key
 * (`acl:<rule>`, `extension-error:<name>`, a third-party extension's own
 * reason) falls under the string index, so values stay plain numbers.
 */
export type DropCounts = Partial<
  Record<(typeof SWITCH_DROP_REASONS)[keyof typeof SWITCH_DROP_REASONS] | (typeof EXTENSION_DROP_REASONS)[keyof typeof EXTENSION_DROP_REASONS], number>
> &
  Record<string, number>;

/**
 * Why a switch port attachment (attach.ts) could not give a frame to its
 * guest NIC (SwitchPortAttachment.deliveryDrops, shown as "to-guest:<reason>"):
 * the OffloadErrorReason of an offload the guest cannot take and that could
 * not be resolved in software, or this.
 */
export const DELIVERY_DROP_REASONS = {
  /** Resolving the offload failed with something other than an OffloadError (a bug). */
  offloadFailed: 'offload-failed',
  /** The port's segmentation budget (segment-budget.ts) is spent: a GSO frame this guest cannot take whole is not segmented. */
  segmentBudget: 'segment-budget',
} as const;

export type DeliveryDropReason = (typeof DELIVERY_DROP_REASONS)[keyof typeof DELIVERY_DROP_REASONS] | OffloadErrorReason;

/**
 * Why an uplink (host/uplink/: the switch's external port with a transport
 * behind it, e.g. VXLAN) dropped a frame or datagram, in either direction
 * (ExternalPort.drops, Uplink.drops). Remote input is untrusted: every
 * datagram that is not a well-formed frame for us from an allowed peer ends here.
 */
export const UPLINK_DROP_REASONS = {
  /** A datagram shorter than the 8-byte VXLAN header plus an Ethernet header. */
  vxlanTruncated: 'vxlan-truncated',
  /** The VXLAN header's I flag (VNI valid) is not set (RFC 7348: drop). */
  vxlanNoVniFlag: 'vxlan-no-vni-flag',
  /** A VNI other than the uplink's. */
  vxlanUnknownVni: 'vxlan-unknown-vni',
  /** A datagram from an address that is not one of the configured peers (the allowlist). */
  unknownPeer: 'uplink-unknown-peer',
  /** An inner frame longer than the uplink's MTU plus link headers. */
  oversize: 'uplink-oversize',
  /** An inner frame whose source MAC is multicast/broadcast (no station sends from one). */
  multicastSource: 'uplink-multicast-source',
  /** An inner frame from the far side whose source MAC is one of this switch's own NICs (spoofing a local VM). */
  localSourceMac: 'uplink-local-source-mac',
  /** Frames the switch sent while the uplink was down or its port not connected. */
  notConnected: 'uplink-not-connected',
  /** The transport refused to send (a socket error). */
  sendFailed: 'uplink-send-failed',
  /** A GSO frame could not be segmented to the uplink's MTU (its offload fields are malformed). */
  segmentFailed: 'uplink-segment-failed',
  /** The port's segmentation budget (segment-budget.ts) is spent. */
  segmentBudget: 'uplink-segment-budget',
} as const;

export type UplinkDropReason = (typeof UPLINK_DROP_REASONS)[keyof typeof UPLINK_DROP_REASONS];

/**
 * Why the shared switch (`vmswitch web --shared`, web/shared-switch.ts) or a
 * page's WebSocket uplink (host/uplink/websocket-uplink.ts) dropped a message
 * or frame. A page is untrusted: every message that is not one well-formed
 * frame from one of its own MACs, within its limits, ends here.
 */
export const SHARED_SWITCH_DROP_REASONS = {
  /** A text message where only binary frames are expected (after the hello, both ways). */
  textMessage: 'shared-text-message',
  /** A binary message of zero bytes. */
  emptyMessage: 'shared-empty-message',
  /** A binary message shorter than an Ethernet header. */
  truncated: 'shared-truncated-frame',
  /** A frame longer than the shared switch's MTU plus link headers. */
  oversize: 'shared-oversize',
  /** A message over the WebSocket size limit: the connection is closed (1009) and the page leaves. */
  messageTooLarge: 'shared-message-too-large',
  /** A frame whose source MAC is not in the page's assigned prefix (spoofing another page's VM, or multicast). */
  foreignSourceMac: 'shared-foreign-source-mac',
  /** Over the page's frame or byte rate (token buckets): a flood. */
  rateLimit: 'shared-rate-limit',
  /** The page's socket has too many bytes queued (a slow or stalled reader): frames to it are dropped, not buffered. */
  sendBacklog: 'shared-send-backlog',
  /** A frame while the page's port is not connected (before the hello, or after it left). */
  notConnected: 'shared-not-connected',
  /** The server's hello (the first message, to the page) is missing or malformed. */
  badHello: 'shared-bad-hello',
} as const;

export type SharedSwitchDropReason = (typeof SHARED_SWITCH_DROP_REASONS)[keyof typeof SHARED_SWITCH_DROP_REASONS];
