// A SharedArrayBuffer frame ring between two threads: one NIC, one direction,
// one producer, one consumer (host-neutral: Node workers and Web Workers).
// Frames are copied into the ring by the producer and out of it by the
// consumer (the NIC needs a Frame it may keep), so a frame costs two memcpy
// and no message, no structured clone, no transfer bookkeeping.
//
// Layout: a control area of Int32 words, then `capacity` bytes of records.
// Positions grow forever (mod 2^32); capacity is a power of two, so a
// position's offset is `pos & (capacity - 1)`. Each record is a 16-byte header
// (length u32; flags u8, gso type u8, 2 spare; csum start, csum offset,
// gso segment size, gso header length: u16 each), then the frame, padded to
// 16 bytes, so a header never straddles the end (the frame may: two copies).
//
// Never blocks: a full ring drops the frame (queue-full). Wake-ups: the
// consumer sets SLEEPING before it waits; the producer, after publishing a
// batch, clears it and, if it was set, bumps WAKE and notifies (the consumer
// waits in Atomics.waitAsync) or, where waitAsync is missing, asks its caller
// to post a wake-up message. A thread running v86 cannot block in Atomics.wait.
//
// Hostile producer (the VM thread is untrusted: it can write anything into
// the ring at any moment): the consumer keeps its own read position, reads the
// write index and each header once into locals, bound-checks them, copies the
// frame out, and only then advances; a value out of bounds drops the rest of
// what was published (ring-record-corrupt). A hostile consumer can only make
// its own producer drop or overwrite frames meant for itself.
import type { Frame, GsoType } from '../net/frame.ts';
import { bump, RING_DROP_REASONS, type RingDropReason } from '../net/drop-reasons.ts';

/** How the consumer is woken: a pending Atomics.waitAsync, or a message per batch from the producer's side. */
export type RingWake = 'atomics' | 'message';

/** The frame transports of the VM-thread protocol. */
export type FrameTransport = 'ring' | 'transfer';

/** Default ring size per NIC and direction: about 650 full-size frames, 10k minimum-size ones. */
export const DEFAULT_RING_BYTES = 1 << 20;
/** The protocol's largest frame (protocol.ts: a GSO super-frame). */
export const RING_MAX_FRAME_BYTES = 65_550;

const WRITE = 0;
const READ = 1;
const WAKE = 2;
const SLEEPING = 3;
const CONTROL_BYTES = 64;
const RECORD_HEADER = 16;
const FLAG_CSUM = 1;
const FLAG_GSO = 2;
const FLAG_CSUM_VERIFIED = 4;
const GSO_TYPES: readonly GsoType[] = ['tcp4', 'tcp6', 'udp4'];

const align16 = (n: number): number => (n + 15) & ~15;
/** A position on a record boundary: records are 16-byte multiples, so a position stays aligned once it is. */
const alignedPosition = (index: number): number => (index & ~15) >>> 0;

/** Whether this thread can make and share a ring (a page must be cross-origin isolated). */
export function ringUsable(opts: { crossOriginIsolated?: boolean } = {}): boolean {
  return typeof SharedArrayBuffer === 'function' && opts.crossOriginIsolated !== false;
}

/** How this thread's consumers can be woken. */
export function ringWakeMode(): RingWake {
  return typeof (Atomics as { waitAsync?: unknown }).waitAsync === 'function' ? 'atomics' : 'message';
}

/**
 * The default frame transport: transferables. The ring moves 2-5x the frames
 * per second of transferables in a micro-benchmark at 64 B (frame-transfer-
 * bench.ts), but end to end (ring-lab-bench.ts, iperf3 and ping between VMs
 * in threads, 2 shared and overloaded cores) it was not faster: TCP
 * ring/transfer 0.85-1.25x (3 of 4 below 1), RTT 0.58-1.29x. A lab's frames
 * are bound by the guests' emulation, not by crossing threads; see ARCHITECTURE.md.
 */
export const DEFAULT_FRAME_TRANSPORT: FrameTransport = 'transfer';

/**
 * The frame transport a launch should offer: `preferred` (an option or
 * VMSWITCH_FRAME_TRANSPORT; default DEFAULT_FRAME_TRANSPORT), but the ring
 * only where SharedArrayBuffer is usable (Node: always; a page: only when
 * `crossOriginIsolated`, which the browser launch passes in), else transferables.
 */
export function pickFrameTransport(opts: { crossOriginIsolated?: boolean; preferred?: FrameTransport } = {}): FrameTransport {
  if ((opts.preferred ?? DEFAULT_FRAME_TRANSPORT) === 'transfer') return 'transfer';
  return ringUsable(opts) ? 'ring' : 'transfer';
}

export function createRing(capacity = DEFAULT_RING_BYTES): SharedArrayBuffer {
  if (!Number.isInteger(Math.log2(capacity)) || capacity < 4096 || capacity > 1 << 30) throw new RangeError(`a ring's capacity must be a power of two from 4 KiB to 1 GiB, not ${capacity}`);
  return new SharedArrayBuffer(CONTROL_BYTES + capacity);
}

class RingView {
  readonly control: Int32Array;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly capacity: number;
  readonly mask: number;
  readonly dropped: Partial<Record<RingDropReason, number>> = {};

  constructor(sab: SharedArrayBuffer) {
    const capacity = sab.byteLength - CONTROL_BYTES;
    if (!(sab instanceof SharedArrayBuffer) || capacity < 4096 || !Number.isInteger(Math.log2(capacity))) throw new RangeError('not a frame ring (createRing)');
    this.control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.bytes = new Uint8Array(sab, CONTROL_BYTES, capacity);
    this.view = new DataView(sab, CONTROL_BYTES, capacity);
    this.capacity = capacity;
    this.mask = capacity - 1;
  }
}

export class RingWriter extends RingView {
  private position: number;
  /** Frames written since the last publish. */
  private unpublished = 0;
  written = 0;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    // Aligned whatever the shared index says, so a record header never straddles the end.
    this.position = alignedPosition(Atomics.load(this.control, WRITE));
  }

  /** Copies one frame in (not yet visible to the consumer: see publish). False when dropped, counted by reason. */
  write(frame: Frame): boolean {
    const data = frame.data;
    const length = data.byteLength;
    const csum = frame.csum;
    const gso = frame.gso;
    if (length === 0 || length > RING_MAX_FRAME_BYTES || (csum && (csum.start > 0xffff || csum.offset > 0xffff)) || (gso && (gso.segmentSize > 0xffff || gso.headerLength > 0xffff || !GSO_TYPES.includes(gso.type)))) {
      bump(this.dropped, RING_DROP_REASONS.unencodable);
      return false;
    }
    const need = RECORD_HEADER + align16(length);
    const used = (this.position - (Atomics.load(this.control, READ) >>> 0)) >>> 0;
    if (used > this.capacity) {
      // The consumer's index is nonsense (a hostile thread): nothing it says can be trusted, so nothing is written.
      bump(this.dropped, RING_DROP_REASONS.corrupt);
      return false;
    }
    if (this.capacity - used < need) {
      bump(this.dropped, RING_DROP_REASONS.queueFull);
      return false;
    }
    const at = this.position & this.mask;
    const view = this.view;
    view.setUint32(at, length, true);
    view.setUint8(at + 4, (csum ? FLAG_CSUM : 0) | (gso ? FLAG_GSO : 0) | (frame.csumVerified ? FLAG_CSUM_VERIFIED : 0));
    view.setUint8(at + 5, gso ? GSO_TYPES.indexOf(gso.type) : 0);
    view.setUint16(at + 8, csum ? csum.start : 0, true);
    view.setUint16(at + 10, csum ? csum.offset : 0, true);
    view.setUint16(at + 12, gso ? gso.segmentSize : 0, true);
    view.setUint16(at + 14, gso ? gso.headerLength : 0, true);
    const start = (at + RECORD_HEADER) & this.mask;
    const first = Math.min(length, this.capacity - start);
    this.bytes.set(first === length ? data : data.subarray(0, first), start);
    if (first < length) this.bytes.set(data.subarray(first), 0);
    this.position = (this.position + need) >>> 0;
    this.unpublished++;
    this.written++;
    return true;
  }

  /**
   * Makes the frames written so far visible and wakes the consumer if it sleeps.
   * Returns true when the consumer must be woken by a message (wake mode 'message').
   */
  publish(wake: RingWake): boolean {
    if (this.unpublished === 0) return false;
    this.unpublished = 0;
    Atomics.store(this.control, WRITE, this.position | 0);
    if (Atomics.exchange(this.control, SLEEPING, 0) !== 1) return false;
    if (wake === 'message') return true;
    Atomics.add(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
    return false;
  }
}

type WaitAsync = (array: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string };

export class RingReader extends RingView {
  private position: number;
  private closed = false;
  private waiting = false;
  read = 0;
  /** What `deliver` threw last (it is caught: a consumer's fault must not end the wake-up loop). */
  lastDeliverError: unknown;

  /** `deliver` gets each drained batch (never empty); the Frames are the consumer's own. */
  constructor(
    sab: SharedArrayBuffer,
    private readonly deliver: (frames: Frame[]) => void,
    private readonly wake: RingWake = ringWakeMode(),
  ) {
    super(sab);
    this.position = alignedPosition(Atomics.load(this.control, READ));
  }

  /** Starts consuming: drains what is there, then sleeps until woken. */
  start(): void {
    this.sleep();
  }

  /** A wake-up message came (wake mode 'message'); harmless at any time. */
  woken(): void {
    if (this.closed || this.waiting) return;
    this.sleep();
  }

  close(): void {
    this.closed = true;
    // Releases a pending waitAsync, so nothing lingers on this thread.
    Atomics.add(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
  }

  /** Copies out every record published so far; returns the frames (delivered too, unless `deliver` is false). */
  drain(): Frame[] {
    const frames: Frame[] = [];
    let read = this.position;
    const write = Atomics.load(this.control, WRITE) >>> 0;
    let available = (write - read) >>> 0;
    if (available > this.capacity || available & 15) {
      bump(this.dropped, RING_DROP_REASONS.corrupt);
      available = 0;
      read = alignedPosition(write);
    }
    const view = this.view;
    while (available > 0) {
      const at = read & this.mask;
      if (available < RECORD_HEADER) {
        bump(this.dropped, RING_DROP_REASONS.corrupt);
        read = alignedPosition(write);
        break;
      }
      // Each field read once, then only the locals are used.
      const length = view.getUint32(at, true);
      const flags = view.getUint8(at + 4);
      const gsoType = view.getUint8(at + 5);
      const csumStart = view.getUint16(at + 8, true);
      const csumOffset = view.getUint16(at + 10, true);
      const segmentSize = view.getUint16(at + 12, true);
      const headerLength = view.getUint16(at + 14, true);
      const record = RECORD_HEADER + align16(length);
      if (length === 0 || length > RING_MAX_FRAME_BYTES || record > available || flags > 7 || gsoType >= GSO_TYPES.length) {
        bump(this.dropped, RING_DROP_REASONS.corrupt);
        read = alignedPosition(write);
        break;
      }
      const data = new Uint8Array(length);
      const start = (at + RECORD_HEADER) & this.mask;
      const first = Math.min(length, this.capacity - start);
      data.set(this.bytes.subarray(start, start + first));
      if (first < length) data.set(this.bytes.subarray(0, length - first), first);
      const frame: Frame = { data };
      if (flags & FLAG_CSUM) frame.csum = { start: csumStart, offset: csumOffset };
      if (flags & FLAG_GSO) frame.gso = { type: GSO_TYPES[gsoType]!, segmentSize, headerLength };
      if (flags & FLAG_CSUM_VERIFIED) frame.csumVerified = true;
      frames.push(frame);
      read = (read + record) >>> 0;
      available -= record;
    }
    this.position = read;
    Atomics.store(this.control, READ, read | 0);
    this.read += frames.length;
    return frames;
  }

  private drainAndDeliver(): void {
    const frames = this.drain();
    if (!frames.length) return;
    try {
      this.deliver(frames);
    } catch (error) {
      this.lastDeliverError = error;
    }
  }

  /** Drains, then waits (a few rounds when the producer keeps writing, then yields to the event loop). */
  private sleep(): void {
    for (let round = 0; round < 4; round++) {
      if (this.closed) return;
      const seen = Atomics.load(this.control, WAKE);
      Atomics.store(this.control, SLEEPING, 1);
      if ((Atomics.load(this.control, WRITE) >>> 0) === this.position) {
        if (this.wake === 'message') return;
        const result = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(this.control, WAKE, seen);
        if (!result.async) continue;
        this.waiting = true;
        void (result.value as Promise<unknown>).then(() => {
          this.waiting = false;
          this.sleep();
        });
        return;
      }
      Atomics.store(this.control, SLEEPING, 0);
      this.drainAndDeliver();
    }
    // A producer that never pauses does not keep this thread in a loop.
    setTimeout(() => this.sleep(), 0);
  }
}
