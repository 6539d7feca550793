// A guest NIC that lives in a VM's thread (a Web Worker or a Node worker), as
// the switch's thread sees it: the GuestNic interface, kept in step with the
// worker by messages. Frames to the guest are batched per task and posted
// with their buffers transferred, or written into the NIC's frame ring
// (ring.ts) when the VM thread took one.
import type { Frame, FrameSink, GsoType, RxOffloads } from '../net/frame.ts';
import { parseMac } from '../net/frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent, NicModel } from '../net/nic.ts';
import { fromWire, toWire, type WireDriverEvent, type WireFrame, type WireRxOffloads } from './wire.ts';
import type { RingWake, RingWriter } from './ring.ts';

/** How the NIC posts to its worker (a function so tests can stand in for a Worker). */
export type PostToWorker = (message: unknown, transfer: Transferable[]) => void;

function rxOffloadsFrom(wire: WireRxOffloads): RxOffloads {
  return { csum: wire.csum, gso: new Set<GsoType>(wire.gso), maxFrameSize: wire.maxFrameSize };
}

export class RemoteNic implements GuestNic {
  mac: Uint8Array;
  driverReady: boolean;
  rxOffloads: RxOffloads;
  counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  private sink: FrameSink | null = null;
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();
  private outbound: Frame[] = [];
  private flushScheduled = false;
  private destroyed = false;
  /** The worker reported the model failed. */
  failed = false;

  constructor(
    readonly model: NicModel,
    readonly index: number,
    info: { mac: string; driverReady: boolean; rxOffloads: WireRxOffloads },
    private readonly post: PostToWorker,
    /** The ring this NIC's frames to the guest go into (else transferred messages). */
    private readonly ring?: { writer: RingWriter; wake: RingWake },
  ) {
    this.mac = parseMac(info.mac);
    this.driverReady = info.driverReady;
    this.rxOffloads = rxOffloadsFrom(info.rxOffloads);
  }

  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }

  /** Frames the guest sent (from the worker). */
  fromWorker(frames: readonly WireFrame[]): void {
    if (!this.sink || this.destroyed) return;
    this.sink.deliver(frames.map(fromWire));
  }

  /** Frames the guest sent, read from the NIC's ring (already this thread's own copies). */
  fromRing(frames: Frame[]): void {
    if (!this.sink || this.destroyed) return;
    this.sink.deliver(frames);
  }

  receive(frames: readonly Frame[]): void {
    if (this.destroyed || this.failed) return;
    for (const frame of frames) this.outbound.push(frame);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One message per task, however many deliveries the switch made in it.
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.outbound;
    this.outbound = [];
    if (!batch.length || this.destroyed) return;
    if (this.ring) {
      for (const frame of batch) this.ring.writer.write(frame);
      if (this.ring.writer.publish(this.ring.wake)) this.post({ type: 'ring-wake', nic: this.index }, []);
      return;
    }
    const transfer: ArrayBuffer[] = [];
    const frames = batch.map((frame) => toWire(frame, transfer));
    this.post({ type: 'frames', nic: this.index, frames }, transfer);
  }

  setLinkUp(up: boolean): void {
    if (this.failed) return;
    this.post({ type: 'link', nic: this.index, up }, []);
  }

  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A driver event from the worker: update the mirror first, then tell the listeners. */
  driverEvent(wire: WireDriverEvent): void {
    let event: NicDriverEvent;
    switch (wire.type) {
      case 'ready':
        this.driverReady = true;
        event = wire;
        break;
      case 'stopped':
        this.driverReady = false;
        event = wire;
        break;
      case 'features':
        this.rxOffloads = rxOffloadsFrom(wire.rxOffloads);
        event = { type: 'features', rxOffloads: this.rxOffloads };
        break;
      case 'mac':
        this.mac = parseMac(wire.mac);
        event = { type: 'mac', mac: this.mac };
        break;
      case 'mtu':
        event = wire;
        break;
      case 'failed':
        // Dead from now on (the worker's model threw): nothing more is sent to it.
        this.failed = true;
        this.driverReady = false;
        this.outbound = [];
        event = { type: 'failed', error: new Error(wire.message) };
        break;
    }
    for (const listener of [...this.listeners]) listener(event);
  }

  updateCounters(counters: NicCounters): void {
    this.counters = counters;
  }

  saveState(): unknown {
    throw new Error("a VM thread's NIC is saved inside its worker, with its emulator");
  }

  restoreState(): void {
    throw new Error("a VM thread's NIC is restored inside its worker, with its emulator");
  }

  destroy(): void {
    this.destroyed = true;
    this.outbound = [];
    this.sink = null;
    this.listeners.clear();
  }
}
