// PCI functions of ours on v86's bus: slot and IRQ choice, BAR placement, MMIO
// and port handlers, the INTx line.
import type { AccessSize, IrqLine, PciFunction, PciFunctionSpec, RegionHandlers } from '../platform.ts';
import { buildConfigSpace } from './config-space.ts';
import type { V86Cpu, V86PciDevice } from './internals.ts';

/**
 * Slots for our functions, ascending (the guest names NICs in PCI order).
 * With pin A, slot S uses PIRQ[(S - 1) & 3], and SeaBIOS routes PIRQA/B to
 * IRQ 10 and PIRQC/D to IRQ 11: 0x0D gets 10 and 0x0F gets 11, so the first
 * two functions each have an IRQ of their own; later ones share them.
 * v86's own devices sit at 0x05-0x07, 0x0A-0x0C, 0x12, 0x1E.
 */
export const CANDIDATE_SLOTS = [0x0d, 0x0f, 0x10, 0x11, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a];

/** MMIO window for our BARs: above the framebuffer (0xE0000000), below 0xFEB00000 (and the IOAPIC/APIC/BIOS). */
export const MMIO_WINDOW_START = 0xfe000000;
export const MMIO_WINDOW_END = 0xfeb00000;
/** v86 maps MMIO in 128 KiB units. */
export const MMIO_GRANULE = 0x20000;
/** Initial I/O BAR ports: >= 0x1000 so that v86 lets SeaBIOS move them (it puts them at 0xC000+). */
export const IO_WINDOW_START = 0x2000;
export const IO_WINDOW_END = 0x8000;

/** Guest errors in a handler must not unwind through the emulator's CPU loop. */
export type HandlerErrorSink = (device: string, error: unknown) => void;

/** PIRQ routing bytes say which ISA IRQ a slot's INTA# reaches (0 when not routed yet). */
export function irqForSlot(isaBridge: Uint8Array, slot: number): number {
  const route = isaBridge[0x60 + ((slot - 1) & 3)] ?? 0x80;
  return route & 0x80 || route >= 16 ? 0 : route;
}

/** Counts raised lines per ISA IRQ so that functions sharing one never drop each other's level. */
export class IrqWires {
  private readonly raisedCount = new Map<number, number>();
  readonly lines: V86IrqLine[] = [];

  constructor(private readonly cpu: V86Cpu) {}

  raise(irq: number): void {
    const count = this.raisedCount.get(irq) ?? 0;
    this.raisedCount.set(irq, count + 1);
    if (count === 0) this.cpu.device_raise_irq(irq);
  }

  lower(irq: number): void {
    const count = this.raisedCount.get(irq) ?? 0;
    if (count <= 0) return;
    this.raisedCount.set(irq, count - 1);
    if (count === 1) this.cpu.device_lower_irq(irq);
  }

  /** After a state restore: the PIC holds the snapshot's levels; make them the lines' levels. */
  resync(): void {
    const irqs = new Set<number>(this.raisedCount.keys());
    for (const line of this.lines) {
      const irq = line.currentIrq();
      if (irq) irqs.add(irq);
    }
    this.raisedCount.clear();
    for (const irq of irqs) this.cpu.device_lower_irq(irq);
    for (const line of this.lines) line.rewire();
  }
}

export class V86IrqLine implements IrqLine {
  private current = false;
  /** The IRQ the wire was raised on (0: not raised). */
  private raisedOn = 0;
  private raiseQueued = false;

  constructor(private readonly wires: IrqWires, readonly currentIrq: () => number) {}

  get level(): boolean {
    return this.current;
  }

  /**
   * Raising is deferred to a microtask, i.e. until the register access that
   * caused it has returned. A device's register access runs in the middle of a
   * guest instruction, and an IRQ raised from there was seen to be marked in
   * service by v86's PIC yet never delivered: no EOI ever came, and that IRQ and
   * every lower-priority one (the serial console's too) stayed dead; a TCP
   * transfer stalled within seconds. Lowering stays immediate, and a raise the
   * device took back meanwhile never reaches the wire (no spurious interrupt).
   */
  set(level: boolean): void {
    if (level === this.current) return;
    this.current = level;
    if (level) {
      if (this.raiseQueued) return;
      this.raiseQueued = true;
      queueMicrotask(() => {
        this.raiseQueued = false;
        if (!this.current || this.raisedOn) return;
        this.raisedOn = this.currentIrq();
        if (this.raisedOn) this.wires.raise(this.raisedOn);
      });
    } else if (this.raisedOn) {
      this.wires.lower(this.raisedOn);
      this.raisedOn = 0;
    }
  }

  /** Raises the wire again if the line is high (the counts were cleared). */
  rewire(): void {
    this.raisedOn = 0;
    if (this.current) {
      this.raisedOn = this.currentIrq();
      if (this.raisedOn) this.wires.raise(this.raisedOn);
    }
  }
}

export class V86PciFunction implements PciFunction {
  readonly irq: V86IrqLine;

  constructor(
    private readonly cpu: V86Cpu,
    readonly slot: number,
    private readonly spec: PciFunctionSpec,
    private readonly initialBars: readonly number[],
    wires: IrqWires,
  ) {
    this.irq = new V86IrqLine(wires, () => this.irqNumber);
    wires.lines.push(this.irq);
  }

  private get space(): Int32Array | undefined {
    return this.cpu.devices.pci.device_spaces[this.slot << 3];
  }

  get irqNumber(): number {
    return irqForSlot(this.cpu.devices.pci.isa_bridge_space8, this.slot);
  }

  get busMaster(): boolean {
    return ((this.space?.[1] ?? 0) & 0x4) !== 0;
  }

  barAddress(bar: number): number {
    const spec = this.spec.bars[bar];
    if (!spec) return 0;
    if (spec.kind === 'mmio') return this.initialBars[bar] ?? 0;
    return ((this.space?.[4 + bar] ?? 0) & 0xfffc) >>> 0;
  }
}

function callSafely<T>(name: string, onError: HandlerErrorSink, fallback: T, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    onError(name, error);
    return fallback;
  }
}

/** Places BARs, registers handlers and the function on v86's bus. */
export class PciBus {
  private nextMmio = MMIO_WINDOW_START;
  private nextIo = IO_WINDOW_START;
  readonly wires: IrqWires;
  readonly functions: V86PciFunction[] = [];

  constructor(private readonly cpu: V86Cpu, private readonly onError: HandlerErrorSink) {
    this.wires = new IrqWires(cpu);
  }

  private freeSlot(): number {
    const spaces = this.cpu.devices.pci.device_spaces;
    const slot = CANDIDATE_SLOTS.find((s) => spaces[s << 3] === undefined);
    if (slot === undefined) throw new Error('no free PCI slot left for another device');
    return slot;
  }

  private allocate(kind: 'mmio' | 'io', size: number): number {
    if (kind === 'mmio') {
      const align = Math.max(size, MMIO_GRANULE);
      const base = Math.ceil(this.nextMmio / align) * align;
      if (base + align > MMIO_WINDOW_END) throw new Error('MMIO window for PCI BARs is full');
      this.nextMmio = base + align;
      return base;
    }
    const align = Math.max(size, 4);
    const base = Math.ceil(this.nextIo / align) * align;
    if (base + size > IO_WINDOW_END) throw new Error('I/O window for PCI BARs is full');
    this.nextIo = base + size;
    return base;
  }

  add(spec: PciFunctionSpec): V86PciFunction {
    const slot = this.freeSlot();
    const bases = spec.bars.map((bar) => (bar ? this.allocate(bar.kind, bar.size) : 0));
    const space = buildConfigSpace(spec, bases);
    const device: V86PciDevice = {
      pci_id: slot << 3,
      pci_space: Array.from(space),
      pci_bars: spec.bars.map((bar) => (bar ? { size: bar.size } : undefined)),
      name: spec.name,
    };
    spec.bars.forEach((bar, n) => {
      if (!bar) return;
      if (bar.kind === 'mmio') this.mapMmio(spec.name, bases[n]!, bar.size, bar.handlers);
      else this.mapPorts(spec.name, bases[n]!, bar.size, bar.handlers, device);
    });
    // register_device snapshots the port handlers of I/O BARs, so they go in first.
    this.cpu.devices.pci.register_device(device);
    const fn = new V86PciFunction(this.cpu, slot, spec, bases, this.wires);
    this.functions.push(fn);
    return fn;
  }

  private mapMmio(name: string, base: number, size: number, handlers: RegionHandlers): void {
    const mapped = Math.max(size, MMIO_GRANULE);
    const onError = this.onError;
    // Offsets past the BAR (inside the 128 KiB unit) read 0 and ignore writes.
    const read = (addr: number, width: AccessSize): number => {
      const offset = addr - base;
      if (offset < 0 || offset + width > size) return 0;
      return callSafely(name, onError, 0, () => handlers.read(offset, width));
    };
    const write = (addr: number, width: AccessSize, value: number): void => {
      const offset = addr - base;
      if (offset < 0 || offset + width > size) return;
      callSafely(name, onError, undefined, () => handlers.write(offset, width, value));
    };
    this.cpu.io.mmap_register(
      base,
      mapped,
      (addr) => read(addr >>> 0, 1) & 0xff,
      (addr, value) => write(addr >>> 0, 1, value & 0xff),
      (addr) => read(addr >>> 0, 4) | 0,
      (addr, value) => write(addr >>> 0, 4, value >>> 0),
    );
  }

  private mapPorts(name: string, base: number, size: number, handlers: RegionHandlers, owner: object): void {
    const onError = this.onError;
    for (let offset = 0; offset < size; offset++) {
      const port = base + offset;
      const reader = (width: AccessSize, mask: number) => () => callSafely(name, onError, mask, () => handlers.read(offset, width) & mask);
      const writer = (width: AccessSize, mask: number) => (value: number) =>
        callSafely(name, onError, undefined, () => handlers.write(offset, width, (value & mask) >>> 0));
      this.cpu.io.register_read(port, owner, reader(1, 0xff), reader(2, 0xffff), () => callSafely(name, onError, -1, () => handlers.read(offset, 4) | 0));
      this.cpu.io.register_write(port, owner, writer(1, 0xff), writer(2, 0xffff), writer(4, 0xffffffff));
    }
  }
}
