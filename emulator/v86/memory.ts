// Guest RAM for device DMA. The release build of v86 checks no bounds, so every
// access is checked here against the RAM size and refused with DmaError.
import { DmaError, type GuestMemory } from '../platform.ts';
import type { V86Cpu } from './internals.ts';

export class V86GuestMemory implements GuestMemory {
  readonly size: number;
  private mem8: Uint8Array;
  private view: DataView;
  private readonly scratch = new Uint8Array(4);
  private readonly scratchView = new DataView(this.scratch.buffer);

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

  write(addr: number, data: Uint8Array): void {
    this.check(addr, data.length);
    // write_blob also invalidates JIT-compiled code in the written range.
    if (data.length) this.cpu.write_blob(data, addr);
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
    this.scratchView.setUint16(0, value, true);
    this.cpu.write_blob(this.scratch.subarray(0, 2), addr);
  }

  writeU32(addr: number, value: number): void {
    this.check(addr, 4);
    this.scratchView.setUint32(0, value >>> 0, true);
    this.cpu.write_blob(this.scratch, addr);
  }
}
