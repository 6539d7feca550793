// The parts of v86@0.5.462's internals that vmswitch uses, typed. Only code in
// emulator/v86/ may import this: everything else sees emulator/platform.ts.
// Names are the ones that survive minification in build/libv86.mjs.
import type { V86 } from 'v86';

export type PortRead = () => number;
export type PortWrite = (value: number) => void;

export interface V86Io {
  register_read(port: number, device: object, read8?: PortRead, read16?: PortRead, read32?: PortRead): void;
  register_write(port: number, device: object, write8?: PortWrite, write16?: PortWrite, write32?: PortWrite): void;
  /** Absolute addresses; address and size are multiples of 128 KiB. */
  mmap_register(
    addr: number,
    size: number,
    read8: (addr: number) => number,
    write8: (addr: number, value: number) => void,
    read32: (addr: number) => number,
    write32: (addr: number, value: number) => void,
  ): void;
}

/** What register_device needs; v86 keeps a reference to it. */
export interface V86PciDevice {
  pci_id: number;
  pci_space: number[];
  pci_bars: ({ size: number } | undefined)[];
  name: string;
}

export interface V86Pci {
  register_device(device: V86PciDevice): Int32Array;
  /** Config spaces by pci_id (slot << 3), 64 dwords each. */
  device_spaces: (Int32Array | undefined)[];
  /** The PIIX3 config space; bytes 0x60-0x63 route PIRQA-D to ISA IRQs (bit 7: disabled). */
  isa_bridge_space8: Uint8Array;
}

export interface V86Cpu {
  /** [0] is the guest RAM size in bytes. */
  memory_size: Uint32Array | Int32Array;
  /** A Proxy that builds a new view of the wasm memory on every property access. */
  readonly mem8: Uint8Array;
  /** Drops JIT-compiled code of physical pages in [start, end) (v86's write_blob does the same before writing; we write through our own view). */
  jit_dirty_cache(start: number, end: number): void;
  io: V86Io;
  devices: { pci: V86Pci };
  device_raise_irq(irq: number): void;
  device_lower_irq(irq: number): void;
}

interface V86WithInternals {
  v86?: { cpu?: V86Cpu };
}

/** The CPU object of a loaded emulator (after `emulator-loaded`). */
export function cpuOf(emulator: V86): V86Cpu {
  const cpu = (emulator as unknown as V86WithInternals).v86?.cpu;
  if (!cpu || !cpu.io || !cpu.devices?.pci) throw new Error('v86 internals not found: is the emulator loaded, and is this v86 0.5.462?');
  return cpu;
}

/** v86's own virtio-net (created when the emulator's net_device type is 'virtio'). */
export interface V86VirtioNetDevice {
  /** Read live by the device-specific config (mac_0..5); the guest's CTRL_MAC_ADDR_SET replaces it. */
  mac: Uint8Array;
  /** Config `status`: 1 = VIRTIO_NET_S_LINK_UP. */
  status: number;
  virtio: {
    /** VIRTIO_CONFIG_S_* bits the guest wrote; 4 = DRIVER_OK, 0 after a reset. */
    device_status: number;
    /** [0] is receiveq1. */
    queues: { has_request(): boolean }[];
    /** Raises the config-change interrupt (if DRIVER_OK). */
    notify_config_changes(): void;
  };
}

/** The emulator-side message bus (frames to the guest go out on `net0-receive`). */
export interface V86Bus {
  send(name: string, value: unknown): void;
}

interface V86WithBus {
  bus?: V86Bus;
}

/** v86's virtio-net of a loaded emulator started with `net_device: { type: 'virtio' }`. */
export function virtioNetOf(cpu: V86Cpu): V86VirtioNetDevice {
  const device = (cpu.devices as { virtio_net?: V86VirtioNetDevice }).virtio_net;
  if (!device || !(device.mac instanceof Uint8Array) || !device.virtio?.queues) throw new Error("v86's virtio-net not found: was the emulator started with net_device type 'virtio'?");
  return device;
}

export function busOf(emulator: V86): V86Bus {
  const bus = (emulator as unknown as V86WithBus).bus;
  if (!bus || typeof bus.send !== 'function') throw new Error('v86 bus not found: is this v86 0.5.462?');
  return bus;
}

/**
 * v86's run loop (src/main.js): `do_tick` runs one slice of guest execution and
 * calls `next_tick(t)`, which bumps `tick_counter`, sets `idle` and calls
 * `yield(t, tick)` to be called back (`yield_callback(tick)`, ignored unless
 * `tick` is still current) in t ms; t is how long the halted guest has nothing
 * to do (0: run again at once). A raised IRQ while idle calls `next_tick(0)`.
 */
export interface V86Main {
  /** Between run() and the stop that follows destroy(). */
  running: boolean;
  tick_counter: number;
  idle: boolean;
  yield(t: number, tick: number): void;
  yield_callback(tick: number): void;
}

export function mainOf(emulator: V86): V86Main {
  const main = (emulator as unknown as { v86?: V86Main }).v86;
  if (!main || typeof main.yield !== 'function' || typeof main.yield_callback !== 'function' || typeof main.tick_counter !== 'number' || typeof main.running !== 'boolean') {
    throw new Error('v86 run loop not found: is this v86 0.5.462?');
  }
  return main;
}
