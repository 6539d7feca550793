// The extension API: what an extension implements (only the callbacks it
// needs) and what the switch gives it (a context for queries, injection and
// references; batch views on the data path whose allowed operations depend on
// the extension's kind, checked at run time too).
import type { Frame } from '../emulator/net/frame.ts';
import type { OidReply, OidRequest, OidStatus } from './oid.ts';
import type { NicInfo, NicParameters } from './nic.ts';
import type { PortInfo, PortParameters } from './port.ts';
import type { Scheduler } from './clock.ts';
import type { DropReason, ExtensionDropReason, InjectionRefusal } from './drop-reasons.ts';

export type ExtensionKind = 'capture' | 'filter' | 'forwarding';

/**
 * A switch extension. Capture extensions see everything and change nothing;
 * filters may drop, modify, originate and exclude; the one forwarding
 * extension also adds destinations and vetoes policy it cannot enforce.
 */
export interface Extension {
  readonly name: string;
  readonly kind: ExtensionKind;
  /** Called when added to a switch (query PORT_ARRAY/NIC_ARRAY here to learn what already exists). */
  attach?(context: ExtensionContext): void;
  /** Called when removed from the switch. */
  detach?(): void;
  /**
   * An OID on its way down. Return `{ veto }` to stop a vetoable one; may
   * return a promise (the OID stays pending, like NDIS_STATUS_PENDING).
   */
  oidRequest?(request: OidRequest): OidReply | Promise<OidReply>;
  /** The same OID completing back up: `status` tells whether something below vetoed it (then undo). */
  oidComplete?(request: OidRequest, status: OidStatus): void;
  /** Ingress: frames carrying only their source, going down toward the forwarding extension. */
  ingress?(batch: IngressBatch): void;
  /** Egress: frames carrying their destinations, coming back up. */
  egress?(batch: EgressBatch): void;
}

/** Read-only view of a batch (all a capture extension may use). Indexes are 0..count-1. */
export interface BatchView {
  readonly count: number;
  /** Switch clock (ms) when the batch entered. */
  readonly time: number;
  frame(i: number): Readonly<Frame>;
  /** Source port id (0: originated by an extension with no source NIC). */
  sourcePortId(i: number): number;
  /** The source NIC, or null for port 0. */
  source(i: number): NicInfo | null;
  /** The frame's VLAN as classified at its source port (0: the default, untagged VLAN). */
  vlan(i: number): number;
  /** True when an extension originated the frame. */
  injected(i: number): boolean;
  isDropped(i: number): boolean;
  /** Destination cursor: first slot of frame i, or -1. Continue with nextDestination. */
  firstDestination(i: number): number;
  nextDestination(slot: number): number;
  destination(slot: number): NicInfo;
  /** The exclusion reason of a destination slot, or null when it will be delivered. */
  excluded(slot: number): DropReason | null;
}

/** Ingress view for filters and the forwarding extension. */
export interface IngressBatch extends BatchView {
  /** Drop frame i; the reason (a built-in's from host/drop-reasons.ts, or the extension's own) is counted on its source port. */
  drop(i: number, reason: ExtensionDropReason): void;
  /** Replace frame i by a modified copy (filters and forwarding only). */
  replace(i: number, frame: Frame): void;
  /** Forwarding extension only: send frame i to this NIC too. */
  addDestination(i: number, nic: NicInfo): void;
  /**
   * Take frame i out of the batch and hold it (NDIS: pend the packet). The
   * frame keeps its source NIC referenced until `context.resume` or
   * `context.dropHeld`, so NIC_DELETE waits for it.
   */
  hold(i: number): HeldFrame;
}

/** Egress view for filters and the forwarding extension. */
export interface EgressBatch extends BatchView {
  /** Exclude one destination (cannot be undone); counted on the destination's port. */
  exclude(slot: number, reason: ExtensionDropReason): void;
  drop(i: number, reason: ExtensionDropReason): void;
}

export interface HeldFrame {
  readonly frame: Frame;
  readonly sourcePortId: number;
  readonly sourceNicIndex: number;
  readonly vlan: number;
}

export interface NicRef {
  portId: number;
  nicIndex: number;
}

export interface InjectOptions {
  /** Originate on behalf of this NIC (it must be connected); default: port 0. */
  source?: NicRef;
  /** Filters and forwarding only: deliver to this NIC (it must be connected) instead of letting forwarding choose. */
  destination?: NicRef;
  /** VLAN of frames from port 0 (default: the frame's tag, else the default VLAN). */
  vlan?: number;
}

export type InjectResult = { accepted: true } | { accepted: false; reason: InjectionRefusal };

export interface SwitchParameters {
  name: string;
  /** Extensions in stack order, top to bottom. */
  extensions: { name: string; kind: ExtensionKind }[];
  ports: number;
}

export interface ExtensionContext {
  readonly switchName: string;
  /** The switch's clock, in ms. */
  now(): number;
  /** Timers on that clock (a FakeClock in tests): schedule(atMs, fn) / cancel(id). */
  readonly timers: Scheduler;
  query(oid: 'OID_SWITCH_PARAMETERS'): SwitchParameters;
  query(oid: 'OID_SWITCH_PORT_ARRAY'): PortParameters[];
  query(oid: 'OID_SWITCH_NIC_ARRAY'): NicParameters[];
  port(portId: number): PortInfo | undefined;
  nic(portId: number, nicIndex: number): NicInfo | undefined;
  /** Every connected NIC (a fresh array whenever the set changes; do not mutate). */
  connectedNics(): readonly NicInfo[];
  /** Originate frames: they start just below this extension on the ingress path. Refused (not thrown) when the source or destination is not connected. */
  inject(frames: readonly Frame[], options?: InjectOptions): InjectResult;
  /** Continue a held frame down the stack below the extension that held it. */
  resume(held: HeldFrame): void;
  dropHeld(held: HeldFrame, reason: ExtensionDropReason): void;
  /** Reference a connected NIC (throws otherwise); call the returned function to release. */
  referenceNic(portId: number, nicIndex: number): () => void;
  /** Reference a port from created until teardown (throws otherwise). */
  referencePort(portId: number): () => void;
}

/** Thrown when an extension uses an operation its kind does not allow (counted as its error). */
export class CapabilityError extends Error {
  constructor(extension: string, kind: ExtensionKind, operation: string) {
    super(`extension ${extension} (${kind}) may not ${operation}`);
    this.name = 'CapabilityError';
  }
}
