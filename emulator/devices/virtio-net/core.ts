// What the transmit, receive and control engines need from the device around them.
import type { RxOffloads } from '../../net/frame.ts';
import type { NicCounters } from '../../net/nic.ts';
import type { GuestMemory, Timers, TraceSink } from '../../platform.ts';
import type { RxFilter } from './control.ts';
import type { Virtqueue } from './virtqueue.ts';

/** The model name in errors and trace events. */
export const DEVICE_NAME = 'virtio-net';

/** The shortest frame either direction accepts: an Ethernet header. */
export const MIN_FRAME = 14;

export interface VirtioNetCore {
  readonly counters: NicCounters;
  readonly memory: GuestMemory;
  readonly timers: Timers;
  /** Set only when tracing was asked for (Platform.trace). */
  readonly trace: TraceSink | undefined;
  /** DRIVER_OK set and no reset needed: the device may use the rings. */
  readonly driverReady: boolean;
  /** PCI bus mastering on (DMA allowed). */
  readonly busMaster: boolean;
  readonly linkUp: boolean;
  readonly destroyed: boolean;
  /** The device's current address (the receive filter's own unicast). */
  readonly mac: Uint8Array;
  /** What the guest accepts (negotiated features). */
  readonly rxOffloads: RxOffloads;
  readonly filter: RxFilter;
  /** A used-buffer interrupt now; it also signals any transmit completion being held. */
  interrupt(): void;
  /** A used-buffer interrupt without touching the held one (the hold timer itself firing). */
  queueInterrupt(): void;
  /** A ring walk failed: a guest error stops the queue, anything else is rethrown. */
  queueFailure(queue: Virtqueue, error: unknown): void;
  /** CTRL_MAC_ADDR_SET: the driver gave the device a new address. */
  setMac(mac: Uint8Array): void;
}

/**
 * What every queue engine starts from: its queue, and the device's memory,
 * counters and trace sink held in its own fields (the hot paths read them per packet).
 */
export abstract class QueueEngine {
  protected readonly memory: GuestMemory;
  protected readonly counters: NicCounters;
  protected readonly trace: TraceSink | undefined;

  constructor(
    protected readonly core: VirtioNetCore,
    protected readonly queue: Virtqueue,
  ) {
    this.memory = core.memory;
    this.counters = core.counters;
    this.trace = core.trace;
  }
}
