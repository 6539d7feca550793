// The lab file format and the plan it becomes. A lab file is YAML (JSON is
// YAML too and is accepted as such); parse.ts checks it and returns a
// LabPlan: plain, normalised data that a runner turns into Switches and VMs.
//
//   name: two-lans                         # optional
//   switches:
//     lan1:                                # every key below is optional
//       capture: { file: lan1.pcapng, direction: both, snapLength: 262144, ports: [a.eth0, wan] }
//       acl:
//         defaultAction: allow
//         rules:                           # AclRule of host/extensions/acl.ts; `from` names ports
//           - { name: no-telnet, action: deny, protocol: tcp, dstPort: 23, from: [a.eth0] }
//       mirror: [{ name: spy, from: [a.eth0], toward: [wan], vlans: [10], to: tap.eth0 }]
//       macLearning: { agingMs: 300000, maxEntries: 8192 }
//       impairment: { delay: 10ms }        # default for this switch's VM ports that set none
//       uplinks: [{ type: vxlan, vni: 42, local: 127.0.0.1, port: 4789, peers: [127.0.0.2:4789] }]  # uplinks.ts
//       dhcp: { server: 10.0.1.2/24, gateway: 10.0.1.1, pool: { from: 10.0.1.100, to: 10.0.1.150 } }
//       guards: { dhcp: true, router: true }   # Hyper-V's DHCP/router guards on VM ports (dhcp.ts)
//     lan2: {}
//   vms:
//     a:
//       memory: 128                        # MiB, 80..2048 (default 128)
//       hostname: a                        # default: the VM's name
//       forwarding: false                  # IPv4 and IPv6 forwarding (a router: true)
//       nics:                              # eth0, eth1, ... in this order
//         - model: e1000                   # e1000 | virtio
//           switch: lan1
//           mac: 52:54:00:00:01:0a         # optional (default: the emulator's)
//           addresses: [10.0.1.10/24, 2001:db8:1::10/64]
//           vlan: 10                       # or { mode: access, vlanId: 10 } or
//                                          #    { mode: trunk, allowed: [10, 20], nativeVlanId: 1 }
//           impairment: { loss: 1% }       # both directions, or { send: {...}, receive: {...} }
//           dhcp: true                     # udhcpc at start; an IPv4 address above is its reservation
//           allow: [dhcp-server, router]   # past the switch's guards
//       gateway: 10.0.1.1                  # IPv4 default route; gateway6 for IPv6
//       routes: [{ to: 10.0.3.0/24, via: 10.0.1.254 }]
//       commands: [ "ping -c 1 b" ]        # run in order once the guest is up
//   links:
//     wan:
//       between: [lan1, lan2]              # two different switches
//       trunk: { allowed: [10, 20] }       # optional; without it the link carries untagged frames only
//       impairment: { delay: 50ms, jitter: 5ms, loss: 5%, duplicate: 1%, reorder: 25%, rate: 1mbit, limit: 1000, down: false }
//                                          # both directions, or per direction: { lan1->lan2: {...}, lan2->lan1: {...} }
//
// Decisions:
// - Link ports are `generic` ports (LINK_PORT_TYPE), one on each switch,
//   named `link:NAME`. NDIS has no switch-to-switch port type; host/switch.ts
//   allows one external and one internal NIC per switch and the external one
//   is kept for the VXLAN uplink; synthetic/emulated ports are VM NICs.
// - VLANs are per port: a NIC's `vlan` is the VlanProperty of its port
//   (`type: vlan` may be written or left out; a bare number is an access
//   VLAN); a link with `trunk` makes both link ports trunks with the same
//   allowed list, a link without carries the untagged (default) VLAN only.
//   With no spanning tree a loop of links is refused, so two switches are
//   joined by at most one path, and a VLAN used by NICs on two switches must
//   be carried by every link on that path.
// - Impairment is netem's words on a port, per direction: a NIC's `send` is
//   what the VM sends into the switch, `receive` what the switch delivers to
//   it; a link's `A->B` is what switch A sends over the link to B. A plain
//   impairment mapping applies to each direction on its own (two queues, two
//   token buckets). Units: delay/jitter `us|ms|s`, percentages `N%`, rate
//   `bit|kbit|mbit|gbit` (SI, as tc; tc's `mbps` means megabytes and is
//   refused), `limit` frames queued (netem's default 1000).
// - Addresses: IPv4 and IPv6 in CIDR form on NICs (a bare address is /32 or
//   /128); IPv6 is written back in RFC 5952 form. Two NICs may not hold the
//   same address on switches joined by links (one L2 domain); separate
//   islands may reuse private ranges.
// - Ports are named in `capture.ports`, ACL `from` and mirror lists as
//   `VM.ethN` (a NIC) or `LINK` (this switch's end of a link).
import type { NicModel } from '../../../emulator/net/nic.ts';
import type { AclRule } from '../../extensions/acl.ts';
import type { VlanProperty } from '../../extensions/vlan.ts';
import type { PlanUplink } from './uplinks.ts';

/** The port type of a link's two ends (see the header). */
export const LINK_PORT_TYPE = 'generic' as const;

/** Bounds against hostile or runaway files. */
export const LIMITS = {
  fileBytes: 1 << 20,
  /** Nodes visited (aliases re-count what they expand to). */
  nodes: 100_000,
  aliases: 100,
  nameLength: 31,
  switches: 64,
  vms: 64,
  nicsPerVm: 8,
  links: 128,
  addressesPerNic: 8,
  aclRules: 256,
  mirrorSessions: 16,
  portRefs: 64,
  routes: 64,
  commands: 64,
  commandLength: 4096,
  vlansPerTrunk: 4094,
} as const;

export const DEFAULT_MEMORY_MIB = 128;

/** netem semantics per direction; zero means "none" (rate 0: unlimited). */
export interface Impairment {
  delayMs: number;
  jitterMs: number;
  lossPercent: number;
  duplicatePercent: number;
  reorderPercent: number;
  rateBitsPerSecond: number;
  /** Frames a delay or rate queue holds before tail drop. */
  limitFrames: number;
  down: boolean;
}

/** A NIC port's impairment: `send` VM -> switch, `receive` switch -> VM; null: none. */
export interface NicImpairment {
  send: Impairment | null;
  receive: Impairment | null;
}

/** A port named in a switch's settings: a VM's NIC or this switch's end of a link. */
export type PortRef = { kind: 'nic'; vm: string; nic: string } | { kind: 'link'; link: string };

/** An ACL rule as acl.ts takes it, with its source ports named instead of numbered. */
export type PlanAclRule = Omit<AclRule, 'sourcePorts'> & { from?: PortRef[] };

export interface PlanAcl {
  defaultAction: 'allow' | 'deny';
  rules: PlanAclRule[];
}

export interface PlanMirrorSession {
  name: string;
  /** Frames from these ports. */
  from: PortRef[];
  /** Frames going to these ports. */
  toward: PortRef[];
  /** Frames of these VLANs (0: the untagged default VLAN). */
  vlans: number[];
  /** Where copies go: a VM NIC on this switch. */
  to: { kind: 'nic'; vm: string; nic: string };
}

export interface PlanCapture {
  /** Relative to the lab file, no `..`; null: kept in memory. */
  file: string | null;
  /** null: every port. */
  ports: PortRef[] | null;
  direction: 'ingress' | 'egress' | 'both';
  snapLength: number;
  enabled: boolean;
}

/** A switch's DHCP server (dhcp.ts); reservations come from its NICs with `dhcp: true`. */
export interface PlanDhcp {
  serverIp: string;
  /** The network in CIDR. */
  subnet: string;
  gateway: string | null;
  dns: string[];
  leaseSeconds: number | null;
  pool: { from: string; to: string } | null;
  reservations: { mac: string; ip: string }[];
}

export interface PlanSwitch {
  name: string;
  capture: PlanCapture | null;
  acl: PlanAcl | null;
  mirror: PlanMirrorSession[];
  /** MacLearningOptions; an absent field takes the extension's default. */
  macLearning: { agingMs?: number; maxEntries?: number };
  /** The external port's transport (at most one: uplinks.ts). */
  uplinks: PlanUplink[];
  /** Only when the file gives one. */
  dhcp?: PlanDhcp;
  /** Hyper-V's DHCP guard and router guard on the switch's VM ports; only when the file gives them. */
  guards?: { dhcp: boolean; router: boolean };
}

export interface PlanNic {
  /** eth0, eth1, ... */
  name: string;
  model: NicModel;
  switch: string;
  /** Lower-case, colon-separated; null: the emulator's default. */
  mac: string | null;
  /** CIDR, normalised (`10.0.1.10/24`, `2001:db8:1::10/64`). */
  addresses: string[];
  vlan: VlanProperty | null;
  /** The NIC's own, else its switch's default. */
  impairment: NicImpairment;
  /** The guest runs udhcpc on it at start (only when set). */
  dhcp?: true;
  /** Guard exceptions: the port may send DHCP server messages / router advertisements (only when set). */
  allow?: ('dhcp-server' | 'router')[];
}

export interface PlanRoute {
  /** A network in CIDR with no host bits. */
  to: string;
  via: string;
}

export interface PlanVm {
  name: string;
  hostname: string;
  memoryMiB: number;
  forwarding: boolean;
  nics: PlanNic[];
  gateway: string | null;
  gateway6: string | null;
  routes: PlanRoute[];
  commands: string[];
}

export interface PlanLinkEnd {
  switch: string;
  /** The port's name on that switch: `link:NAME`. */
  port: string;
  /** What this end's switch sends over the link; null: none. */
  send: Impairment | null;
}

export interface PlanLink {
  name: string;
  portType: typeof LINK_PORT_TYPE;
  ends: [PlanLinkEnd, PlanLinkEnd];
  /** Both ports' VLAN property; null: untagged frames only. */
  trunk: { allowed: number[]; nativeVlanId?: number } | null;
}

export interface LabPlan {
  name: string | null;
  switches: PlanSwitch[];
  vms: PlanVm[];
  links: PlanLink[];
}
