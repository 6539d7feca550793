// A platform with no emulator behind it, for register-level device tests (the
// way QEMU's qtests poke a device): flat guest RAM, a virtual clock, and PCI
// functions whose BARs the test reads and writes directly.
import {
  DmaError,
  type AccessSize,
  type GuestMemory,
  type IrqLine,
  type PciFunction,
  type PciFunctionSpec,
  type Platform,
  type TimerHandle,
  type Timers,
  type TraceSink,
} from './platform.ts';

export class FakeMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** Every access that was refused for leaving RAM. */
  readonly refused: { addr: number; length: number }[] = [];
  /** Bytes read and written, to show that work stayed bounded. */
  bytesRead = 0;
  bytesWritten = 0;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  contains(addr: number, length: number): boolean {
    return Number.isSafeInteger(addr) && Number.isSafeInteger(length) && addr >= 0 && length >= 0 && addr + length <= this.size;
  }

  private check(addr: number, length: number): void {
    if (!this.contains(addr, length)) {
      this.refused.push({ addr, length });
      throw new DmaError(addr, length, this.size);
    }
  }

  read(addr: number, length: number): Uint8Array {
    this.check(addr, length);
    this.bytesRead += length;
    return this.bytes.slice(addr, addr + length);
  }

  readInto(addr: number, target: Uint8Array): void {
    this.check(addr, target.length);
    this.bytesRead += target.length;
    target.set(this.bytes.subarray(addr, addr + target.length));
  }

  write(addr: number, data: Uint8Array): void {
    this.check(addr, data.length);
    this.bytesWritten += data.length;
    this.bytes.set(data, addr);
  }

  readU16(addr: number): number {
    this.check(addr, 2);
    this.bytesRead += 2;
    return this.view.getUint16(addr, true);
  }

  readU32(addr: number): number {
    this.check(addr, 4);
    this.bytesRead += 4;
    return this.view.getUint32(addr, true);
  }

  writeU16(addr: number, value: number): void {
    this.check(addr, 2);
    this.bytesWritten += 2;
    this.view.setUint16(addr, value, true);
  }

  writeU32(addr: number, value: number): void {
    this.check(addr, 4);
    this.bytesWritten += 4;
    this.view.setUint32(addr, value >>> 0, true);
  }
}

/** A virtual clock: timers fire only when the test advances time. */
export class FakeTimers implements Timers {
  private time = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), callback });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle.id);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Moves the clock forward, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.pending) {
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      this.pending.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].callback();
    }
    this.time = end;
  }
}

export class FakeIrq implements IrqLine {
  level = false;
  /** Rising edges seen, i.e. interrupts the guest would take. */
  raised = 0;
  set(level: boolean): void {
    if (level && !this.level) this.raised++;
    this.level = level;
  }
}

export class FakePciFunction implements PciFunction {
  readonly irq = new FakeIrq();
  readonly irqNumber = 11;
  busMaster = true;
  private readonly bases: number[];

  constructor(readonly spec: PciFunctionSpec, readonly slot: number) {
    this.bases = spec.bars.map((bar, n) => (bar ? (bar.kind === 'mmio' ? 0xfe000000 + n * 0x100000 : 0xc000 + n * 0x100) : 0));
  }

  barAddress(bar: number): number {
    return this.bases[bar] ?? 0;
  }

  read(bar: number, offset: number, size: AccessSize = 4): number {
    const region = this.spec.bars[bar];
    if (!region) throw new Error(`BAR${bar} is not implemented`);
    return region.handlers.read(offset, size) >>> 0;
  }

  write(bar: number, offset: number, value: number, size: AccessSize = 4): void {
    const region = this.spec.bars[bar];
    if (!region) throw new Error(`BAR${bar} is not implemented`);
    region.handlers.write(offset, size, value >>> 0);
  }
}

export class FakePlatform implements Platform {
  readonly memory: FakeMemory;
  readonly timers = new FakeTimers();
  readonly functions: FakePciFunction[] = [];

  /** `trace` lets a test record the device's trace events. */
  constructor(memorySize = 16 * 1024 * 1024, readonly trace?: TraceSink) {
    this.memory = new FakeMemory(memorySize);
  }

  addPciFunction(spec: PciFunctionSpec): FakePciFunction {
    const fn = new FakePciFunction(spec, 0x0f + this.functions.length);
    this.functions.push(fn);
    return fn;
  }
}
