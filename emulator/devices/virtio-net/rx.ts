// Receive: admits a frame (driver ready, link up, receive filter, offloads the
// guest accepts), holds it in a bounded backlog, and writes header + frame
// into the driver's receive buffers: one chain, or several with mergeable
// buffers (num_buffers says how many). A small frame takes a one-write path.
import type { Frame } from '../../net/frame.ts';
import { OffloadError, adaptForReceiver } from '../../net/offload.ts';
import { DEVICE_NAME, MIN_FRAME, QueueEngine, type VirtioNetCore } from './core.ts';
import { GUEST_ERROR_REASONS, RX_DROP_REASONS, bump, type RxDropReason } from '../../net/drop-reasons.ts';
import { NET_HDR_SIZE, rxHeaderFor, writeHeader } from './header.ts';
import { VirtqueueError, scatter, type Chain, type Virtqueue } from './virtqueue.ts';

/** Frames up to a standard Ethernet frame (plus VLAN tag) with the header take the one-write receive path. */
const RX_STAGING_SIZE = NET_HDR_SIZE + 1522;

export class RxEngine extends QueueEngine {
  /** VIRTIO_NET_F_MRG_RXBUF negotiated: a frame may span chains. */
  mergeable = false;
  private backlog: Frame[] = [];
  private backlogBytes = 0;
  /** Receive chains taken from the ring but not yet filled (a frame waits for enough of them). */
  private chains: Chain[] = [];
  private capacity = 0;
  private draining = false;
  /** Header and a small frame are put together here, then written to the guest at once. */
  private readonly staging = new Uint8Array(RX_STAGING_SIZE);

  /** The backlog holds frames while the guest has no receive buffers (like a NIC's FIFO), within these bounds. */
  constructor(
    core: VirtioNetCore,
    queue: Virtqueue,
    private readonly maxBacklogFrames: number,
    private readonly maxBacklogBytes: number,
  ) {
    super(core, queue);
  }

  /** Chains taken from the ring but not filled (a snapshot gives them back to the ring). */
  get heldChains(): number {
    return this.chains.length;
  }

  receive(frames: readonly Frame[]): void {
    for (const frame of frames) {
      const reason = this.admit(frame);
      if (reason) bump(this.counters.rxDropped, reason);
    }
    this.drain();
  }

  /** Drops the backlog (each frame counted under `reason`). */
  dropBacklog(reason: RxDropReason): void {
    for (let i = 0; i < this.backlog.length; i++) bump(this.counters.rxDropped, reason);
    this.backlog = [];
    this.backlogBytes = 0;
  }

  /** Forgets the backlog and the chains taken from the ring (reset, restore, a queue error). */
  reset(reason: RxDropReason): void {
    this.chains = [];
    this.capacity = 0;
    this.dropBacklog(reason);
  }

  /** Queues a frame for the guest, or says why it is dropped. */
  private admit(frame: Frame): RxDropReason | undefined {
    const core = this.core;
    if (!core.driverReady) return RX_DROP_REASONS.driverNotReady;
    if (!core.linkUp) return RX_DROP_REASONS.linkDown;
    if (frame.data.length < MIN_FRAME) return RX_DROP_REASONS.runt;
    if (!core.filter.accepts(frame.data, core.mac)) return RX_DROP_REASONS.filtered;
    const offloads = core.rxOffloads;
    let frames: Frame[] = [frame];
    if ((frame.gso && !offloads.gso.has(frame.gso.type)) || (frame.csum && !offloads.csum)) {
      // The caller should have done this (GuestNic.receive); doing it here keeps a mistake from reaching the guest.
      try {
        frames = adaptForReceiver(frame, offloads);
      } catch (error) {
        if (error instanceof OffloadError) return RX_DROP_REASONS.offloadError;
        throw error;
      }
    }
    for (const f of frames) {
      if (f.data.length > offloads.maxFrameSize) return RX_DROP_REASONS.oversize;
      if (this.backlog.length >= this.maxBacklogFrames || this.backlogBytes + f.data.length > this.maxBacklogBytes) return RX_DROP_REASONS.ringFull;
      this.backlog.push(f);
      this.backlogBytes += f.data.length;
    }
    return undefined;
  }

  /** Moves backlog frames into the receive buffers the driver has made available. */
  drain(): void {
    const queue = this.queue;
    if (this.draining || !this.backlog.length || !queue.ready || !this.core.driverReady || !this.core.busMaster) return;
    this.draining = true;
    const usedBefore = queue.usedIdx;
    let placed = 0;
    try {
      while (placed < this.backlog.length && this.place(queue, this.backlog[placed]!)) placed++;
      if (queue.publish()) this.core.interrupt();
    } catch (error) {
      // The frames placed before the ring broke are the guest's: their chains are complete, so they are
      // published, and they leave the backlog before the failure drops (and counts) the rest.
      queue.publish();
      this.forgetPlaced(placed);
      this.core.queueFailure(queue, error);
      return;
    } finally {
      this.draining = false;
    }
    if (this.trace) this.trace(DEVICE_NAME, 'rx.ring', { avail: queue.lastAvail, used: queue.usedIdx, chains: (queue.usedIdx - usedBefore) & 0xffff, frames: placed });
    this.forgetPlaced(placed);
  }

  /** Takes the first `placed` frames out of the backlog (they are in the guest's buffers, or counted as dropped). */
  private forgetPlaced(placed: number): void {
    if (!placed || !this.backlog.length) return;
    for (let i = 0; i < placed; i++) this.backlogBytes -= this.backlog[i]!.data.length;
    this.backlog = this.backlog.slice(placed);
  }

  /** Takes one more receive chain from the ring, or returns false when the driver has none. */
  private takeChain(queue: Virtqueue): boolean {
    if (queue.pending() === 0) return false;
    const chain = queue.pop();
    if (chain.readableLength) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorFlags, 'receive buffer is not device-writable');
    if (chain.writableLength < NET_HDR_SIZE) throw new VirtqueueError(GUEST_ERROR_REASONS.rxBufferShort, `receive buffer of ${chain.writableLength} bytes cannot hold the header`);
    this.chains.push(chain);
    this.capacity += chain.writableLength;
    return true;
  }

  /** Writes one frame into receive buffers. False: not enough buffers yet (the frame waits). */
  private place(queue: Virtqueue, frame: Frame): boolean {
    const needed = NET_HDR_SIZE + frame.data.length;
    let used: number;
    if (this.mergeable) {
      while (this.capacity < needed) if (!this.takeChain(queue)) return false;
      used = 0;
      for (let room = 0; room < needed; used++) room += this.chains[used]!.writableLength;
    } else {
      if (!this.chains.length && !this.takeChain(queue)) return false;
      if (this.chains[0]!.writableLength < needed) {
        // Without mergeable buffers a frame must fit one chain; the chain stays for the next frame.
        bump(this.counters.rxDropped, RX_DROP_REASONS.bufferTooSmall);
        return true;
      }
      used = 1;
    }
    const firstChain = this.chains[0]!;
    const firstSegment = firstChain.writable[0]!;
    if (used === 1 && needed <= firstSegment.length && needed <= this.staging.length) {
      // A frame that fits the first buffer (every ping, every ACK): header and packet in one write.
      writeHeader(rxHeaderFor(frame, 1), this.staging);
      this.staging.set(frame.data, NET_HDR_SIZE);
      this.memory.write(firstSegment.addr, this.staging.subarray(0, needed));
      queue.push(firstChain.head, needed);
      this.capacity -= firstChain.writableLength;
      this.chains.shift();
      this.counters.rxFrames++;
      this.counters.rxBytes += frame.data.length;
      return true;
    }
    const header = new Uint8Array(NET_HDR_SIZE);
    writeHeader(rxHeaderFor(frame, used), header);
    let offset = 0; // into the frame data
    for (let i = 0; i < used; i++) {
      const chain = this.chains[i]!;
      let written = 0;
      if (i === 0) written = scatter(this.memory, chain.writable, header);
      written += scatter(this.memory, chain.writable, frame.data.subarray(offset, offset + chain.writableLength - written), written);
      offset += written - (i === 0 ? NET_HDR_SIZE : 0);
      queue.push(chain.head, written);
      this.capacity -= chain.writableLength;
    }
    this.chains.splice(0, used);
    this.counters.rxFrames++;
    this.counters.rxBytes += frame.data.length;
    return true;
  }
}
