// A split virtqueue (virtio 1.x section 2.7), walked by the device with every
// guest value distrusted: ring indices, descriptor indices, lengths and
// addresses are checked before use, and a chain can never visit more
// descriptors than the queue holds, so a loop in the table ends the walk.
// Every problem becomes a VirtqueueError; the device then marks itself
// NEEDS_RESET and stops the queue (the guest hurts only itself).
import type { GuestMemory } from '../../platform.ts';
import { GUEST_ERROR_REASONS, type GuestErrorReason } from '../../net/drop-reasons.ts';

const DESC_SIZE = 16;
const DESC_F_NEXT = 1;
const DESC_F_WRITE = 2;
const DESC_F_INDIRECT = 4;
const AVAIL_F_NO_INTERRUPT = 1;

export class VirtqueueError extends Error {
  constructor(readonly reason: GuestErrorReason, detail: string) {
    super(`${reason}: ${detail}`);
    this.name = 'VirtqueueError';
  }
}

export interface Segment {
  addr: number;
  length: number;
}

/** One descriptor chain: the buffers the driver made available under one head index. */
export interface Chain {
  head: number;
  /** Device-readable buffers, in order (they all come before the writable ones). */
  readable: Segment[];
  writable: Segment[];
  readableLength: number;
  writableLength: number;
}

export interface VirtqueueState {
  size: number;
  enabled: boolean;
  desc: number;
  avail: number;
  used: number;
  lastAvail: number;
  usedIdx: number;
  broken: boolean;
}

export class Virtqueue {
  size: number;
  enabled = false;
  /** Guest-physical addresses of the three areas (64-bit values kept as plain numbers). */
  desc = 0;
  avail = 0;
  used = 0;
  /** Next avail ring slot the device will read (free-running, mod 2^16). */
  lastAvail = 0;
  /** Next used ring slot the device will write (free-running, mod 2^16). */
  usedIdx = 0;
  /** Set after a guest error: the queue does nothing until the device is reset. */
  broken = false;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  indirect = false;
  /** Used entries written since the last publish(). */
  private unpublished = 0;
  /** The used index the driver has seen (the last one published). */
  private publishedIdx = 0;

  constructor(private readonly memory: GuestMemory, readonly index: number, readonly maxSize: number) {
    this.size = maxSize;
  }

  reset(): void {
    this.size = this.maxSize;
    this.enabled = false;
    this.desc = this.avail = this.used = 0;
    this.lastAvail = this.usedIdx = 0;
    this.broken = false;
    this.unpublished = 0;
    this.publishedIdx = 0;
  }

  /** Why the driver's queue configuration cannot be used, or undefined (checked when it enables the queue). */
  validate(): string | undefined {
    const n = this.size;
    if (n === 0 || n > this.maxSize || (n & (n - 1)) !== 0) return `queue size ${n} is not a power of two <= ${this.maxSize}`;
    if (this.desc % 16 || this.avail % 2 || this.used % 4) return 'misaligned ring address';
    if (!this.memory.contains(this.desc, DESC_SIZE * n)) return 'descriptor table outside RAM';
    if (!this.memory.contains(this.avail, 6 + 2 * n)) return 'available ring outside RAM';
    if (!this.memory.contains(this.used, 6 + 8 * n)) return 'used ring outside RAM';
    return undefined;
  }

  get ready(): boolean {
    return this.enabled && !this.broken;
  }

  /** How many chains the driver has made available and the device has not taken. */
  pending(): number {
    const availIdx = this.memory.readU16(this.avail + 2);
    const count = (availIdx - this.lastAvail) & 0xffff;
    // Against the used index the driver has seen, not only the last chain taken: a driver offers a chain
    // only after it got one back, so more than a queue's worth past it means it re-offers chains the device
    // still holds (a receive frame waiting for more buffers), and the device would use more chains than the queue has.
    const outstanding = (availIdx - this.publishedIdx) & 0xffff;
    if (count > this.size || outstanding > this.size) {
      throw new VirtqueueError(GUEST_ERROR_REASONS.availIndex, `available index ${availIdx} is ${outstanding} ahead of the used index ${this.publishedIdx} in a queue of ${this.size}`);
    }
    return count;
  }

  /** Takes the next available chain (call only when pending() > 0). */
  pop(): Chain {
    const slot = this.lastAvail % this.size;
    const head = this.memory.readU16(this.avail + 4 + 2 * slot);
    const chain = this.walk(head);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    return chain;
  }

  /** Returns a chain to the driver with `written` bytes written into its writable buffers. */
  push(head: number, written: number): void {
    const slot = this.usedIdx % this.size;
    const at = this.used + 4 + 8 * slot;
    this.memory.writeU32(at, head);
    this.memory.writeU32(at + 4, written);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.unpublished++;
  }

  /**
   * Makes pushed entries visible to the driver (used ring entries first, then
   * the index). Returns whether the driver wants an interrupt for them.
   */
  publish(): boolean {
    if (this.unpublished === 0) return false;
    this.unpublished = 0;
    this.publishedIdx = this.usedIdx;
    this.memory.writeU16(this.used + 2, this.usedIdx);
    return this.wantsInterrupt();
  }

  /** The driver has not suppressed used-buffer interrupts (VRING_AVAIL_F_NO_INTERRUPT). */
  wantsInterrupt(): boolean {
    return (this.memory.readU16(this.avail) & AVAIL_F_NO_INTERRUPT) === 0;
  }

  private walk(head: number): Chain {
    if (head >= this.size) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorIndex, `head ${head} outside a queue of ${this.size}`);
    const chain: Chain = { head, readable: [], writable: [], readableLength: 0, writableLength: 0 };
    // The spec forbids chains longer than the queue, indirect tables included:
    // this one budget ends loops and bounds the work.
    let budget = this.size;
    let index = head;
    for (;;) {
      if (budget-- <= 0) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorLoop, `chain from head ${head} exceeds ${this.size} descriptors`);
      const at = this.desc + DESC_SIZE * index;
      const flags = this.memory.readU16(at + 12);
      if (flags & DESC_F_INDIRECT) {
        if (!this.indirect) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorFlags, 'indirect descriptor without VIRTIO_F_INDIRECT_DESC');
        if (flags & DESC_F_NEXT) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorFlags, 'indirect descriptor with NEXT');
        budget = this.walkIndirect(chain, this.address(at), this.memory.readU32(at + 8), budget);
        return chain;
      }
      this.addSegment(chain, this.address(at), this.memory.readU32(at + 8), flags);
      if (!(flags & DESC_F_NEXT)) return chain;
      index = this.memory.readU16(at + 14);
      if (index >= this.size) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorIndex, `next ${index} outside a queue of ${this.size}`);
    }
  }

  private walkIndirect(chain: Chain, table: number, length: number, budget: number): number {
    if (length === 0 || length % DESC_SIZE) throw new VirtqueueError(GUEST_ERROR_REASONS.indirectLength, `indirect table of ${length} bytes`);
    const entries = length / DESC_SIZE;
    if (entries > budget) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorLoop, `indirect table of ${entries} descriptors exceeds the queue size`);
    if (!this.memory.contains(table, length)) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorAddress, `indirect table at 0x${table.toString(16)} outside RAM`);
    let index = 0;
    for (;;) {
      if (budget-- <= 0) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorLoop, `indirect chain exceeds ${entries} descriptors`);
      const at = table + DESC_SIZE * index;
      const flags = this.memory.readU16(at + 12);
      if (flags & DESC_F_INDIRECT) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorFlags, 'nested indirect descriptor');
      this.addSegment(chain, this.address(at), this.memory.readU32(at + 8), flags);
      if (!(flags & DESC_F_NEXT)) return budget;
      index = this.memory.readU16(at + 14);
      if (index >= entries) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorIndex, `indirect next ${index} outside a table of ${entries}`);
    }
  }

  /** A descriptor's 64-bit address; anything at or above 4 GiB cannot be RAM here. */
  private address(at: number): number {
    const high = this.memory.readU32(at + 4);
    const low = this.memory.readU32(at);
    return high === 0 ? low : Number.MAX_SAFE_INTEGER;
  }

  private addSegment(chain: Chain, addr: number, length: number, flags: number): void {
    if (!this.memory.contains(addr, length)) {
      throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorAddress, `buffer of ${length} bytes at 0x${addr.toString(16)} outside RAM`);
    }
    if (flags & DESC_F_WRITE) {
      if (length) chain.writable.push({ addr, length });
      chain.writableLength += length;
    } else {
      if (chain.writable.length) throw new VirtqueueError(GUEST_ERROR_REASONS.descriptorOrder, 'readable descriptor after a writable one');
      if (length) chain.readable.push({ addr, length });
      chain.readableLength += length;
    }
  }

  saveState(): VirtqueueState {
    return {
      size: this.size,
      enabled: this.enabled,
      desc: this.desc,
      avail: this.avail,
      used: this.used,
      lastAvail: this.lastAvail,
      usedIdx: this.usedIdx,
      broken: this.broken,
    };
  }

  restoreState(state: VirtqueueState): void {
    this.size = state.size;
    this.enabled = state.enabled;
    this.desc = state.desc;
    this.avail = state.avail;
    this.used = state.used;
    this.lastAvail = state.lastAvail & 0xffff;
    this.usedIdx = state.usedIdx & 0xffff;
    this.broken = state.broken;
    this.unpublished = 0;
    this.publishedIdx = this.usedIdx;
    // States no device can be in: more chains out than the queue holds, or a queue not yet enabled
    // (nothing moves it before) with indices other than 0; enabling it later would start from them.
    const impossible = this.enabled ? this.validate() !== undefined || ((this.lastAvail - this.usedIdx) & 0xffff) > this.size : this.lastAvail !== 0 || this.usedIdx !== 0;
    if (impossible) this.broken = true;
  }
}

/** Copies a chain's readable bytes into one array. */
export function gatherReadable(memory: GuestMemory, chain: Chain): Uint8Array {
  const out = new Uint8Array(chain.readableLength);
  let filled = 0;
  for (const seg of chain.readable) {
    memory.readInto(seg.addr, out.subarray(filled, filled + seg.length));
    filled += seg.length;
  }
  return out;
}

/** Writes `data` across a list of writable segments starting `skip` bytes in; returns bytes written. */
export function scatter(memory: GuestMemory, segments: readonly Segment[], data: Uint8Array, skip = 0): number {
  let written = 0;
  for (const seg of segments) {
    if (written >= data.length) break;
    if (skip >= seg.length) {
      skip -= seg.length;
      continue;
    }
    const n = Math.min(seg.length - skip, data.length - written);
    memory.write(seg.addr + skip, data.subarray(written, written + n));
    written += n;
    skip = 0;
  }
  return written;
}
