// A plain cable between two guest NICs (no switch): what one transmits the
// other receives, with offloads the receiver cannot take resolved in software.
// Delivery is asynchronous on purpose: a NIC transmits from inside a guest
// register write, and handing the frame straight to the peer could re-enter a
// device mid-transmit (a ping reply arriving before the TX write-back). A
// microtask is enough for that (it runs once the sender's emulator slice has
// returned), as on the switch's ports; a setImmediate hop instead put the
// frame behind other VMs' turns and cost virtio-net TCP 15% (73 -> 86 MiB/s).
// A NIC that fails (a contained NIC's 'failed' event, or any NIC whose receive
// throws in the delivery microtask) unplugs the cable: both links go down, as a
// dead adapter's peer sees, and nothing escapes into the event loop.
import type { Frame, FrameSink } from './frame.ts';
import type { GuestNic } from './nic.ts';
import { OffloadError, adaptForReceiver } from './offload.ts';
import { WIRE_DROP_REASONS, bump, type WireDropReason } from './drop-reasons.ts';

export interface WireDirectionCounters {
  frames: number;
  bytes: number;
  /** Frames lost on the wire, by reason (queue full, malformed offload, ...). */
  dropped: Partial<Record<WireDropReason, number>>;
}

export interface WireOptions {
  /** Frames waiting per direction before new ones are dropped (default 1024). */
  queueLimit?: number;
  /** A NIC on the wire failed; the wire is already unplugged. */
  onFault?: (nic: GuestNic, error: Error) => void;
}

export interface WireFault {
  nic: GuestNic;
  error: Error;
}

export interface WireHandle {
  readonly counters: { aToB: WireDirectionCounters; bToA: WireDirectionCounters };
  /** NICs that failed on this wire (it was unplugged at the first). */
  readonly faults: readonly WireFault[];
  /** Unplugs the cable: link down on both NICs, queued frames dropped. */
  disconnect(): void;
}

class Direction implements FrameSink {
  readonly counters: WireDirectionCounters = { frames: 0, bytes: 0, dropped: {} };
  private queue: Frame[] = [];
  private scheduled = false;
  connected = true;

  constructor(
    private readonly to: GuestNic,
    private readonly limit: number,
    private readonly onReceiverFault: (error: unknown) => void,
  ) {}

  deliver(frames: readonly Frame[]): void {
    if (!this.connected) return;
    for (const frame of frames) {
      if (this.queue.length >= this.limit) bump(this.counters.dropped, WIRE_DROP_REASONS.queueFull);
      else this.queue.push(frame);
    }
    if (!this.scheduled && this.queue.length) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.connected) return;
    const batch = this.queue;
    this.queue = [];
    const out: Frame[] = [];
    const rx = this.to.rxOffloads;
    for (const frame of batch) {
      try {
        for (const piece of adaptForReceiver(frame, rx)) {
          out.push(piece);
          this.counters.frames++;
          this.counters.bytes += piece.data.length;
        }
      } catch (error) {
        if (!(error instanceof OffloadError)) throw error;
        bump(this.counters.dropped, error.reason);
      }
    }
    if (!out.length) return;
    try {
      this.to.receive(out);
    } catch (error) {
      // Only an uncontained NIC throws here (a ContainedNic reports instead): the batch is lost, the cable pulled.
      bump(this.counters.dropped, WIRE_DROP_REASONS.receiverFailed, out.length);
      this.onReceiverFault(error);
    }
  }

  clear(): void {
    this.connected = false;
    this.queue = [];
  }
}

/** Joins two NICs with a cable and brings the link up on both. */
export function connectWire(a: GuestNic, b: GuestNic, options: WireOptions = {}): WireHandle {
  if (a === b) throw new Error('connectWire: a NIC cannot be wired to itself');
  const limit = options.queueLimit ?? 1024;
  const faults: WireFault[] = [];
  const fault = (nic: GuestNic, error: unknown): void => {
    const reported = error instanceof Error ? error : new Error(String(error));
    faults.push({ nic, error: reported });
    handle.disconnect();
    try {
      options.onFault?.(nic, reported);
    } catch (listenerError) {
      console.error('vmswitch: a wire onFault listener threw:', listenerError);
    }
  };
  const aToB = new Direction(b, limit, (error) => fault(b, error));
  const bToA = new Direction(a, limit, (error) => fault(a, error));
  const offEvents = [a, b].map((nic) => nic.onDriverEvent((event) => {
    if (event.type === 'failed') queueMicrotask(() => fault(nic, event.error));
  }));
  a.setTransmitSink(aToB);
  b.setTransmitSink(bToA);
  a.setLinkUp(true);
  b.setLinkUp(true);
  let connected = true;
  const handle: WireHandle = {
    counters: { aToB: aToB.counters, bToA: bToA.counters },
    faults,
    disconnect() {
      if (!connected) return;
      connected = false;
      for (const off of offEvents) off();
      aToB.clear();
      bToA.clear();
      for (const nic of [a, b]) {
        // A NIC that threw may throw again: unplugging must still reach the other one.
        try {
          nic.setTransmitSink(null);
          nic.setLinkUp(false);
        } catch {
          // Its fault is already recorded.
        }
      }
    },
  };
  return handle;
}
