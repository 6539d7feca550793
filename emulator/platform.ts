// The small interface every device model depends on instead of v86.
// The v86 adapter (emulator/v86/) implements it for real guests; the fake in
// emulator/testing.ts implements it for register-level unit tests.

/** A guest DMA that would leave guest RAM. Devices catch it and treat it as a guest error. */
export class DmaError extends Error {
  constructor(readonly addr: number, readonly length: number, readonly memorySize: number) {
    super(`DMA of ${length} bytes at 0x${addr.toString(16)} leaves guest RAM (0x${memorySize.toString(16)} bytes)`);
    this.name = 'DmaError';
  }
}

/**
 * Guest physical memory as seen by a DMA-capable device. Every call is
 * bounds-checked against RAM and throws DmaError instead of touching anything else.
 */
export interface GuestMemory {
  readonly size: number;
  /** True when [addr, addr + length) lies inside guest RAM. */
  contains(addr: number, length: number): boolean;
  /** A copy of guest bytes. */
  read(addr: number, length: number): Uint8Array;
  /** Copies guest bytes into `target` (no allocation on hot paths). */
  readInto(addr: number, target: Uint8Array): void;
  write(addr: number, data: Uint8Array): void;
  readU16(addr: number): number;
  readU32(addr: number): number;
  writeU16(addr: number, value: number): void;
  writeU32(addr: number, value: number): void;
}

export type AccessSize = 1 | 2 | 4;

/**
 * Handlers for one BAR. Offsets are relative to the BAR's base. v86 delivers
 * 16-bit MMIO accesses as two 1-byte accesses, so a device must accept any size
 * at any offset (unknown offsets read 0 and ignore writes).
 */
export interface RegionHandlers {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

export interface PciBar {
  kind: 'mmio' | 'io';
  /** Power of two; MMIO BARs are placed at a fixed address (v86 cannot move them). */
  size: number;
  handlers: RegionHandlers;
}

/** A PCI capability laid into config space by the platform, linked from the capabilities pointer. */
export interface PciCapability {
  id: number;
  /** The bytes after the (id, next) header. */
  body: Uint8Array;
}

export interface PciFunctionSpec {
  name: string;
  vendorId: number;
  deviceId: number;
  revision: number;
  /** 24-bit class code, e.g. 0x020000 for an Ethernet controller. */
  classCode: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** Indexed by BAR number (0-5). */
  bars: (PciBar | undefined)[];
  capabilities?: PciCapability[];
}

/** A level-triggered INTx line. The platform only toggles the wire on transitions. */
export interface IrqLine {
  set(level: boolean): void;
  readonly level: boolean;
}

export interface PciFunction {
  readonly irq: IrqLine;
  /** The guest-visible IRQ number (what /proc/interrupts shows). */
  readonly irqNumber: number;
  readonly slot: number;
  /** Current base address of a BAR (I/O BARs may be moved by the BIOS). */
  barAddress(bar: number): number;
  /** Bus mastering enabled in the PCI command register (DMA allowed). */
  readonly busMaster: boolean;
}

export interface TimerHandle {
  readonly id: number;
}

/** Time and timers for a device. A fake drives them in tests; the VM frees them on stop. */
export interface Timers {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Values a trace event carries (numbers print in hex where they are registers or addresses). */
export type TraceFields = Readonly<Record<string, number | string | boolean>>;

/**
 * An opt-in trace sink, as QEMU's trace events or v86's dbg_log: devices call it
 * on register access, ring walks and interrupt edges. `device` is the model
 * ('e1000', 'virtio-net'), `event` a dotted name ('mmio.write', 'tx.ring',
 * 'irq.raise'). Absent unless someone asked (VMSWITCH_TRACE=e1000 in Node, or a
 * test), so devices test for it before building the fields: a hot path pays one
 * property check.
 */
export type TraceSink = (device: string, event: string, fields: TraceFields) => void;

export interface Platform {
  readonly memory: GuestMemory;
  readonly timers: Timers;
  addPciFunction(spec: PciFunctionSpec): PciFunction;
  /** Set only when tracing was asked for. */
  readonly trace?: TraceSink | undefined;
}
