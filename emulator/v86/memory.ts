// Guest RAM for device DMA. The release build of v86 checks no bounds, so every
// access is checked here against the RAM size and refused with DmaError.
import { DmaError, type GuestMemory } from '../platform.ts';
import type { V86Cpu } from './internals.ts';

export class V86GuestMemory implements GuestMemory {
  readonly size: number;
  private mem8: Uint8Array;
  private view: DataView;

  constructor(private readonly cpu: V86Cpu) {
    this.size = cpu.memory_size[0]! >>> 0;
    this.mem8 = new Uint8Array(0);
    this.view = new DataView(this.mem8.buffer);
    this.refresh();
  }

  /**
   * `cpu.mem8` is a Proxy that builds a new view of the wasm memory on every
   * property access: too slow for DMA. A plain view is hoisted instead, and
   * rebuilt when a wasm memory grow has detached its buffer (byteLength 0).
   */
  refresh(): void {
    const live = this.cpu.mem8;
    const buffer = live.buffer;
    this.mem8 = new Uint8Array(buffer, live.byteOffset, this.size);
    this.view = new DataView(buffer, live.byteOffset, this.size);
  }

  private bytes(): Uint8Array {
    if (this.mem8.byteLength === 0) this.refresh();
    return this.mem8;
  }

  contains(addr: number, length: number): boolean {
    return Number.isSafeInteger(addr) && Number.isSafeInteger(length) && addr >= 0 && length >= 0 && addr + length <= this.size;
  }

  private check(addr: number, length: number): void {
    if (!this.contains(addr, length)) throw new DmaError(addr, length, this.size);
  }

  read(addr: number, length: number): Uint8Array {
    this.check(addr, length);
    return this.bytes().slice(addr, addr + length);
  }

  readInto(addr: number, target: Uint8Array): void {
    this.check(addr, target.length);
    target.set(this.bytes().subarray(addr, addr + target.length));
  }

  /**
   * Writes go straight to the hoisted view, then tell v86's JIT that the range
   * changed (what its write_blob does, without the Proxy view it builds per
   * call: a device's ring update on the latency path costs a few microseconds
   * less each time).
   */
  write(addr: number, data: Uint8Array): void {
    this.check(addr, data.length);
    if (!data.length) return;
    this.bytes().set(data, addr);
    this.cpu.jit_dirty_cache(addr, addr + data.length);
  }

  readU16(addr: number): number {
    this.check(addr, 2);
    this.bytes();
    return this.view.getUint16(addr, true);
  }

  readU32(addr: number): number {
    this.check(addr, 4);
    this.bytes();
    return this.view.getUint32(addr, true);
  }

  writeU16(addr: number, value: number): void {
    this.check(addr, 2);
    this.bytes();
    this.view.setUint16(addr, value, true);
    this.cpu.jit_dirty_cache(addr, addr + 2);
  }

  writeU32(addr: number, value: number): void {
    this.check(addr, 4);
    this.bytes();
    this.view.setUint32(addr, value >>> 0, true);
    this.cpu.jit_dirty_cache(addr, addr + 4);
  }
}
