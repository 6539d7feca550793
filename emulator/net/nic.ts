// What the VM runtime, the plain wire and the switch orchestration know of a
// guest NIC, whatever its model.
import type { Frame, FrameSink, RxOffloads } from './frame.ts';
import type { Platform } from '../platform.ts';
import type { GuestErrorReason, RxDropReason } from './drop-reasons.ts';

export type NicModel = 'e1000' | 'virtio' | 'v86-virtio';
/** The models the lab, the CLI and the web app offer. */
export const NIC_MODELS: readonly NicModel[] = ['e1000', 'virtio'];
/** Every model a VirtualMachine can have: 'v86-virtio' is v86's own virtio-net, a baseline for benchmarks (one per VM). */
export const ALL_NIC_MODELS: readonly NicModel[] = [...NIC_MODELS, 'v86-virtio'];

/**
 * The guest driver's view of the adapter, as the lab needs it:
 * - `ready`: the guest's stack has bound the adapter and can move frames
 *   (e1000: receiver enabled with link up; virtio: DRIVER_OK) -> NIC_CONNECT;
 * - `stopped`: the driver closed or reset the adapter;
 * - `features`: negotiated offloads changed (virtio feature negotiation);
 * - `mac` / `mtu`: the guest changed them -> NIC_UPDATED.
 * - `failed`: the model threw (a bug the guest or a frame reached); the NIC is
 *   dead from now on (emulator/fault.ts): its port runs the stop lifecycle, the
 *   guest sees its link go down, the VM keeps running. Emitted once.
 */
export type NicDriverEvent =
  | { type: 'ready' }
  | { type: 'stopped'; reason: string }
  | { type: 'features'; rxOffloads: RxOffloads }
  | { type: 'mac'; mac: Uint8Array }
  | { type: 'mtu'; mtu: number }
  | { type: 'failed'; error: Error };

/** Counters every NIC model keeps, including guest errors it survived. */
export interface NicCounters {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames the guest could not take (ring full, filtered, too big), by reason (catalogue: drop-reasons.ts). */
  rxDropped: Partial<Record<RxDropReason, number>>;
  /** Guest programming errors survived (bad descriptor, DMA out of RAM, ...), by reason (catalogue: drop-reasons.ts). */
  guestErrors: Partial<Record<GuestErrorReason, number>>;
}

export interface GuestNic {
  readonly model: NicModel;
  /** Current MAC (the guest may change it). */
  readonly mac: Uint8Array;
  /** True between `ready` and `stopped`. */
  readonly driverReady: boolean;
  /** What the guest currently accepts without software segmentation or checksumming. */
  readonly rxOffloads: RxOffloads;
  readonly counters: NicCounters;
  /** Frames the guest transmits go here (null: dropped, as on a cable that is unplugged). */
  setTransmitSink(sink: FrameSink | null): void;
  /** Frames for the guest. Offloads beyond `rxOffloads` must have been resolved by the caller. */
  receive(frames: readonly Frame[]): void;
  /** The cable: link down/up as the guest sees it (raises the model's link-change interrupt). */
  setLinkUp(up: boolean): void;
  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void;
  /** JSON-serialisable state, saved beside the v86 state in a VM snapshot. */
  saveState(): unknown;
  restoreState(state: unknown): void;
  /** Frees timers; the device stops touching guest memory. */
  destroy(): void;
}

export interface NicOptions {
  mac: Uint8Array;
}

export type NicFactory = (platform: Platform, options: NicOptions) => GuestNic;

/** Who the VM is and which of its NICs this is, for the switch's names and logs. */
export interface NicAttachInfo {
  vmName: string;
  /** 0 for eth0, 1 for eth1, ... */
  index: number;
}

/**
 * Something a VM's NIC can be plugged into at VM start (the extensible switch
 * implements it; emulator/ knows only this interface). `attachNic` runs the
 * start lifecycle up to NIC_CREATE and rejects (leaving nothing behind) when an
 * extension vetoes; the returned `detach` runs the whole stop lifecycle.
 */
export interface NicAttacher {
  attachNic(nic: GuestNic, info: NicAttachInfo): Promise<NicAttachment>;
}

export interface NicAttachment {
  /** A name for messages, e.g. "port 3". */
  readonly label: string;
  detach(): Promise<void>;
}
