// The virtio-net device: three queues (receive, transmit, control) behind the
// PCI transport, frames with offload metadata in and out, driver-state events
// for the lab. The queue walks live in tx.ts, rx.ts and control.ts; this file
// keeps the GuestNic surface, feature negotiation, queue setup, driver state
// and snapshots.
import { DmaError, type GuestMemory, type PciFunction, type Platform, type Timers, type TraceSink } from '../../platform.ts';
import { formatMac, parseMac, sameMac, type Frame, type FrameSink, type GsoType, type RxOffloads } from '../../net/frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent } from '../../net/nic.ts';
import { MAX_GSO_FRAME_SIZE } from '../../net/offload.ts';
import { DeviceStateError } from '../state-error.ts';
import { ControlEngine, RxFilter } from './control.ts';
import { DEVICE_NAME, type VirtioNetCore } from './core.ts';
import { GUEST_ERROR_REASONS, RX_DROP_REASONS, bump, type GuestErrorReason } from '../../net/drop-reasons.ts';
import {
  OFFERED_FEATURES,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_MRG_RXBUF,
  hasFeature,
  validateDriverFeatures,
} from './features.ts';
import {
  BAR_SIZE,
  ISR_QUEUE,
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  STATUS_FEATURES_OK,
  VirtioPciTransport,
  transportCapabilities,
  type TransportDevice,
} from './pci-transport.ts';
import { RxEngine } from './rx.ts';
import { STATE_VERSION, parseState, type VirtioNetState } from './state.ts';
import { TX_INTERRUPT_HOLD_MS, TxEngine } from './tx.ts';
import { Virtqueue, VirtqueueError } from './virtqueue.ts';

export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
export const CTRL_QUEUE = 2;

const VIRTIO_NET_S_LINK_UP = 1;
const ETH_OVERHEAD = 14 + 4; // Ethernet header plus one VLAN tag

export interface VirtioNetConfig {
  mac: Uint8Array;
  mtu?: number;
  /** Largest queue the driver may configure (a power of two). */
  queueSize?: number;
  /** Frames held while the guest has no receive buffers (like a NIC's FIFO); beyond this they are dropped. */
  backlogFrames?: number;
  backlogBytes?: number;
  /** See TX_INTERRUPT_HOLD_MS; 0 interrupts for every transmit completion at once. */
  txInterruptHoldMs?: number;
}

export class VirtioNet implements GuestNic, TransportDevice, VirtioNetCore {
  readonly model = 'virtio' as const;
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  readonly offeredFeatures = OFFERED_FEATURES;
  readonly queues: readonly Virtqueue[];
  readonly pci: PciFunction;
  readonly transport: VirtioPciTransport;
  readonly mtu: number;
  readonly memory: GuestMemory;
  readonly timers: Timers;
  readonly trace: TraceSink | undefined;
  /** The receive filter the control queue programs. */
  readonly filter = new RxFilter();

  private currentMac: Uint8Array;
  private readonly configuredMac: Uint8Array;
  private features = 0n;
  private offloads: RxOffloads;
  private link = true;
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();
  private readyAnnounced = false;
  private isDestroyed = false;
  private readonly tx: TxEngine;
  private readonly rx: RxEngine;
  private readonly control: ControlEngine;

  constructor(platform: Platform, config: VirtioNetConfig) {
    this.memory = platform.memory;
    this.timers = platform.timers;
    this.trace = platform.trace;
    this.currentMac = config.mac.slice(0, 6);
    this.configuredMac = config.mac.slice(0, 6);
    this.mtu = config.mtu ?? 1500;
    const queueSize = config.queueSize ?? 256;
    this.queues = [0, 1, 2].map((i) => new Virtqueue(platform.memory, i, i === CTRL_QUEUE ? 64 : queueSize));
    this.offloads = this.baseOffloads();
    this.tx = new TxEngine(this, this.queues[TX_QUEUE]!, config.txInterruptHoldMs ?? TX_INTERRUPT_HOLD_MS);
    this.rx = new RxEngine(this, this.queues[RX_QUEUE]!, config.backlogFrames ?? 1024, config.backlogBytes ?? 8 * 1024 * 1024);
    this.control = new ControlEngine(this, this.queues[CTRL_QUEUE]!);
    // The BAR handlers exist before the transport (which needs the function's IRQ line).
    const handlers = {
      read: (offset: number, size: 1 | 2 | 4) => (this.destroyed ? 0 : this.transport.read(offset, size)),
      write: (offset: number, size: 1 | 2 | 4, value: number) => {
        if (!this.destroyed) this.transport.write(offset, size, value);
      },
    };
    this.pci = platform.addPciFunction({
      name: 'virtio-net',
      vendorId: 0x1af4,
      deviceId: 0x1041, // 0x1040 + virtio device id 1 (network): modern-only
      revision: 1,
      classCode: 0x020000,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x1100,
      bars: [{ kind: 'io', size: BAR_SIZE, handlers }],
      capabilities: transportCapabilities(0),
    });
    this.transport = new VirtioPciTransport(this, this.pci.irq, this.trace);
  }

  // --- GuestNic ----------------------------------------------------------

  get mac(): Uint8Array {
    return this.currentMac;
  }

  get driverReady(): boolean {
    const s = this.transport.status;
    return (s & STATUS_DRIVER_OK) !== 0 && (s & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED)) === 0;
  }

  get busMaster(): boolean {
    return this.pci.busMaster;
  }

  get rxOffloads(): RxOffloads {
    return this.offloads;
  }

  setTransmitSink(sink: FrameSink | null): void {
    this.tx.sink = sink;
  }

  receive(frames: readonly Frame[]): void {
    if (this.isDestroyed) return;
    this.rx.receive(frames);
  }

  get linkUp(): boolean {
    return this.link;
  }

  setLinkUp(up: boolean): void {
    if (this.link === up) return;
    this.link = up;
    if (!up) this.rx.dropBacklog(RX_DROP_REASONS.linkDown);
    this.transport.configChanged();
  }

  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get destroyed(): boolean {
    return this.isDestroyed;
  }

  destroy(): void {
    this.isDestroyed = true;
    this.tx.cancelHeldInterrupt();
    this.tx.sink = null;
    this.rx.reset(RX_DROP_REASONS.destroyed);
    this.listeners.clear();
  }

  private emit(event: NicDriverEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  // --- TransportDevice -----------------------------------------------------

  reset(): void {
    this.tx.cancelHeldInterrupt();
    for (const q of this.queues) q.reset();
    this.features = 0n;
    this.applyFeatures();
    this.filter.reset();
    this.rx.reset(RX_DROP_REASONS.reset);
    if (!sameMac(this.currentMac, 0, this.configuredMac)) {
      this.currentMac = this.configuredMac.slice();
      this.emit({ type: 'mac', mac: this.currentMac.slice() });
    }
    this.announceStopped('reset');
  }

  acceptFeatures(features: bigint): string | undefined {
    const refused = validateDriverFeatures(features, this.offeredFeatures);
    if (refused) {
      bump(this.counters.guestErrors, GUEST_ERROR_REASONS.featuresRefused);
      return refused;
    }
    this.features = features;
    this.applyFeatures();
    this.emit({ type: 'features', rxOffloads: this.offloads });
    return undefined;
  }

  driverOk(): void {
    if (!this.driverReady) return;
    this.readyAnnounced = true;
    this.emit({ type: 'ready' });
    // A driver may have queued work before DRIVER_OK; the device could not touch it until now.
    this.tx.process();
    this.control.process();
  }

  driverFailed(): void {
    this.announceStopped('driver failed');
  }

  queueEnabled(queue: Virtqueue): void {
    queue.enabled = true;
    const problem = queue.validate();
    if (problem) this.guestError(GUEST_ERROR_REASONS.queueConfig, queue);
  }

  notify(queue: Virtqueue): void {
    if (this.trace) this.trace(DEVICE_NAME, 'queue.notify', { queue: queue.index });
    if (!this.driverReady || !queue.ready) return;
    if (queue.index === RX_QUEUE) this.rx.drain();
    else if (queue.index === TX_QUEUE) this.tx.process();
    else this.control.process();
  }

  readConfig(offset: number): number {
    // struct virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu, speed, duplex.
    if (offset < 6) return this.currentMac[offset]!;
    if (offset === 6) return this.link ? VIRTIO_NET_S_LINK_UP : 0;
    if (offset === 8) return 1;
    if (offset === 10) return this.mtu & 0xff;
    if (offset === 11) return this.mtu >> 8;
    if (offset >= 12 && offset <= 16) return 0xff; // speed and duplex unknown
    return 0;
  }

  writeConfig(): void {
    // Every field is read-only in a virtio 1 net device (the MAC changes through CTRL_MAC_ADDR).
  }

  // --- features ------------------------------------------------------------

  private applyFeatures(): void {
    const f = this.features;
    this.rx.mergeable = hasFeature(f, VIRTIO_NET_F_MRG_RXBUF);
    this.tx.offloads = {
      csum: hasFeature(f, VIRTIO_NET_F_CSUM),
      tso4: hasFeature(f, VIRTIO_NET_F_HOST_TSO4),
      tso6: hasFeature(f, VIRTIO_NET_F_HOST_TSO6),
    };
    this.control.ctrlRx = hasFeature(f, VIRTIO_NET_F_CTRL_RX);
    this.control.ctrlMacAddr = hasFeature(f, VIRTIO_NET_F_CTRL_MAC_ADDR);
    for (const q of this.queues) q.indirect = hasFeature(f, VIRTIO_F_INDIRECT_DESC);
    const gso = new Set<GsoType>();
    if (hasFeature(f, VIRTIO_NET_F_GUEST_TSO4)) gso.add('tcp4');
    if (hasFeature(f, VIRTIO_NET_F_GUEST_TSO6)) gso.add('tcp6');
    this.offloads =
      f === 0n
        ? this.baseOffloads()
        : Object.freeze({
            csum: hasFeature(f, VIRTIO_NET_F_GUEST_CSUM),
            gso,
            maxFrameSize: gso.size ? MAX_GSO_FRAME_SIZE : this.mtu + ETH_OVERHEAD,
          });
  }

  private baseOffloads(): RxOffloads {
    return Object.freeze({ csum: false, gso: new Set<GsoType>(), maxFrameSize: this.mtu + ETH_OVERHEAD });
  }

  // --- errors and events ---------------------------------------------------

  /** A guest programming error: counted; the queue stops and the device asks for a reset. */
  private guestError(reason: GuestErrorReason, queue: Virtqueue): void {
    bump(this.counters.guestErrors, reason);
    queue.broken = true;
    if (queue.index === RX_QUEUE) this.rx.reset(RX_DROP_REASONS.deviceError);
    this.transport.setNeedsReset();
    this.announceStopped(`device error: ${reason}`);
  }

  queueFailure(queue: Virtqueue, error: unknown): void {
    if (error instanceof VirtqueueError) this.guestError(error.reason, queue);
    else if (error instanceof DmaError) this.guestError(GUEST_ERROR_REASONS.dmaOutsideRam, queue);
    else throw error;
  }

  private announceStopped(reason: string): void {
    if (!this.readyAnnounced) return;
    this.readyAnnounced = false;
    this.emit({ type: 'stopped', reason });
  }

  // --- interrupts ------------------------------------------------------------

  /** A used-buffer interrupt; it also signals any transmit completion being held. */
  interrupt(): void {
    this.tx.cancelHeldInterrupt();
    this.transport.queueInterrupt();
  }

  /** A used-buffer interrupt that leaves a held one alone (the hold timer firing, or no hold configured). */
  queueInterrupt(): void {
    this.transport.queueInterrupt();
  }

  // --- control ---------------------------------------------------------------

  /** CTRL_MAC_ADDR_SET from the control queue. */
  setMac(mac: Uint8Array): void {
    this.currentMac = mac;
    this.emit({ type: 'mac', mac: mac.slice() });
  }

  // --- state -----------------------------------------------------------------

  saveState(): VirtioNetState {
    const queues = this.queues.map((q) => q.saveState());
    // Chains taken but not filled are given back: the restored device re-reads them from guest memory.
    queues[RX_QUEUE]!.lastAvail = (queues[RX_QUEUE]!.lastAvail - this.rx.heldChains) & 0xffff;
    const transport = this.transport.saveState();
    // A held transmit-completion interrupt is saved as pending: the restored device raises it at once.
    if (this.tx.interruptHeld) transport.isr |= ISR_QUEUE;
    return {
      version: STATE_VERSION,
      transport,
      queues,
      features: this.features.toString(16),
      mac: formatMac(this.currentMac),
      linkUp: this.link,
      filter: this.filter.saveState(),
    };
  }

  restoreState(raw: unknown): void {
    // Everything is checked before anything is applied: a bad snapshot leaves the device as it was.
    const state = parseState(raw, this.queues.length);
    const features = state.transport.status & STATUS_FEATURES_OK ? BigInt(`0x${state.features || '0'}`) : 0n;
    if (features !== 0n && validateDriverFeatures(features, this.offeredFeatures)) throw new DeviceStateError(DEVICE_NAME, 'bad saved state (features)');
    this.rx.reset(RX_DROP_REASONS.restore);
    this.queues.forEach((q, i) => q.restoreState(state.queues[i]!));
    this.features = features;
    this.applyFeatures();
    this.currentMac = parseMac(state.mac);
    this.link = state.linkUp;
    this.filter.restoreState(state.filter);
    this.transport.restoreState(state.transport);
    // The lab learns the restored adapter's state as if the driver had just set it up.
    this.readyAnnounced = false;
    if (this.features !== 0n) this.emit({ type: 'features', rxOffloads: this.offloads });
    if (this.driverReady) {
      this.readyAnnounced = true;
      this.emit({ type: 'ready' });
    }
  }
}
