// The one typed adapter between vmswitch and v86: it creates an emulator,
// gives device models a Platform (PCI, MMIO, ports, DMA, IRQ, timers), and
// carries the serial console and the emulator's state.
import { createRequire } from 'node:module';
import { V86, type V86Options } from 'v86';
import type { Platform, PciFunctionSpec, TraceSink } from '../platform.ts';
import { traceSinkFromEnv } from '../trace.ts';
import { busOf, cpuOf, mainOf, virtioNetOf, type V86Cpu, type V86VirtioNetDevice } from './internals.ts';
import { V86GuestMemory } from './memory.ts';
import { PciBus, type HandlerErrorSink, type V86PciFunction } from './pci.ts';
import { TickLoop } from './tick-loop.ts';
import { TrackedTimers } from './timers.ts';
import { applyWasmTiering } from './wasm-tiering.ts';

/**
 * v86's own virtio-net as a NIC model sees it (only when the machine was
 * created with `v86VirtioNet`). v86 has one such device per emulator.
 */
export interface V86VirtioNetLink {
  readonly device: V86VirtioNetDevice;
  /** Marks the device taken; a second NIC model asking for it is refused. */
  claim(): void;
  sendToGuest(frame: Uint8Array): void;
  /** Frames the guest transmitted (virtio header already stripped). */
  onGuestFrame(listener: (frame: Uint8Array) => void): () => void;
  /** The guest set a new MAC (VIRTIO_NET_CTRL_MAC_ADDR_SET); read it from `device.mac`. */
  onMacChange(listener: () => void): () => void;
}

export class V86Platform implements Platform {
  readonly memory: V86GuestMemory;
  readonly timers: TrackedTimers;
  readonly pci: PciBus;
  /** Device trace events to stderr, for the devices VMSWITCH_TRACE names. */
  readonly trace: TraceSink | undefined = traceSinkFromEnv();
  /** Set when the machine runs v86's own virtio-net. */
  v86VirtioNet?: V86VirtioNetLink;

  constructor(readonly cpu: V86Cpu, onError: HandlerErrorSink) {
    this.memory = new V86GuestMemory(cpu);
    this.timers = new TrackedTimers((error) => onError('device timer', error));
    this.pci = new PciBus(cpu, onError);
  }

  addPciFunction(spec: PciFunctionSpec): V86PciFunction {
    return this.pci.add(spec);
  }

  /** After v86 restored its state (and our devices theirs): fresh memory view, IRQ wires as the devices say. */
  afterRestore(): void {
    this.memory.refresh();
    this.pci.wires.resync();
  }

  destroy(): void {
    this.timers.stop();
  }
}

export interface MachineImages {
  bios: Uint8Array;
  vgaBios: Uint8Array;
  /** Needed for a cold boot; a restore brings RAM with it. */
  kernel?: Uint8Array;
  initrd?: Uint8Array;
}

export interface MachineOptions {
  memoryBytes: number;
  images: MachineImages;
  cmdline?: string;
  /** Registers our devices; runs inside `emulator-loaded`, before the BIOS. */
  setup(platform: V86Platform): void;
  /** Start from this v86 state instead of booting; `afterRestore` then restores our devices' state. */
  restore?: { state: Uint8Array; afterRestore(): void };
  /** An exception in one of our device handlers (the guest keeps running). */
  onDeviceError?: HandlerErrorSink;
  /** v86's wasm compiled once elsewhere (VM threads share the main thread's): no compile per VM. */
  wasmModule?: WebAssembly.Module;
  /** Give the machine v86's own virtio-net (for baseline comparisons); otherwise it has no v86 NIC. */
  v86VirtioNet?: boolean;
}

function virtioNetLink(emulator: V86, cpu: V86Cpu, onError: HandlerErrorSink): V86VirtioNetLink {
  const device = virtioNetOf(cpu);
  const bus = busOf(emulator);
  let claimed = false;
  const listen = <T>(event: string, listener: (value: T) => void): (() => void) => {
    const untyped = emulator as unknown as { add_listener(e: string, f: (v: T) => void): void; remove_listener(e: string, f: (v: T) => void): void };
    // v86 calls bus listeners from inside its device code: an exception must not unwind through it.
    const guarded = (value: T): void => {
      try {
        listener(value);
      } catch (error) {
        onError(`v86-virtio ${event}`, error);
      }
    };
    untyped.add_listener(event, guarded);
    return () => untyped.remove_listener(event, guarded);
  };
  return {
    device,
    claim() {
      if (claimed) throw new Error("v86 has only one virtio-net per VM: a second 'v86-virtio' NIC is not possible");
      claimed = true;
    },
    sendToGuest: (frame) => bus.send('net0-receive', frame),
    onGuestFrame: (listener) => listen<Uint8Array>('net0-send', listener),
    onMacChange: (listener) => listen<string>('net0-mac', () => listener()),
  };
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

const WASM_PATH = createRequire(import.meta.url).resolve('v86/build/v86.wasm');
const LOAD_TIMEOUT_MS = 60_000;
/** The VGA is unused (serial console); a small framebuffer keeps snapshots smaller. */
const VGA_MEMORY_BYTES = 2 * 1024 * 1024;

/** One running v86 emulator with our devices. */
export class V86Machine {
  private outputListeners = new Set<(bytes: Uint8Array) => void>();
  private pending: number[] = [];
  private flushScheduled = false;
  private destroyed = false;
  /** Schedules v86's slices and fires the device timers (replaces v86's own Node scheduler). */
  private readonly loop: TickLoop;
  private readonly onByte = (byte: number): void => {
    this.pending.push(byte);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  };
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (!this.pending.length) return;
    const bytes = Uint8Array.from(this.pending);
    this.pending = [];
    for (const listener of this.outputListeners) {
      try {
        listener(bytes);
      } catch (error) {
        // A console consumer's bug (exec, a log stream) must not end the process from this setImmediate.
        this.onError('serial console listener', error);
      }
    }
  };

  private constructor(
    private readonly emulator: V86,
    readonly platform: V86Platform,
    private readonly onError: HandlerErrorSink,
  ) {
    emulator.add_listener('serial0-output-byte', this.onByte);
    this.loop = new TickLoop(mainOf(emulator), platform.timers);
  }

  static async create(opts: MachineOptions): Promise<V86Machine> {
    const config: V86Options = {
      wasm_path: WASM_PATH,
      memory_size: opts.memoryBytes,
      vga_memory_size: VGA_MEMORY_BYTES,
      bios: { buffer: arrayBufferOf(opts.images.bios) },
      vga_bios: { buffer: arrayBufferOf(opts.images.vgaBios) },
      autostart: false,
      // No ne2k: its IRQ and slot stay free; our NICs are the only ones.
      // v86's virtio-net only when asked for (the baseline model 'v86-virtio'); no relay: frames go over the bus.
      net_device: { type: opts.v86VirtioNet ? 'virtio' : 'none' } as unknown as V86Options['net_device'],
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
    };
    const wasmModule = opts.wasmModule;
    if (wasmModule) (config as { wasm_fn?: unknown }).wasm_fn = async (imports: WebAssembly.Imports) => (await WebAssembly.instantiate(wasmModule, imports)).exports;
    if (!opts.restore) {
      if (!opts.images.kernel || !opts.images.initrd) throw new Error('a cold boot needs a kernel and an initrd');
      config.bzimage = { buffer: arrayBufferOf(opts.images.kernel) };
      config.initrd = { buffer: arrayBufferOf(opts.images.initrd) };
      config.cmdline = opts.cmdline ?? '';
    }
    applyWasmTiering();
    const emulator = new V86(config);
    await new Promise<void>((resolve, reject) => {
      // v86 loads its wasm asynchronously; a broken install would otherwise wait forever.
      const timer = setTimeout(() => {
        emulator.remove_listener('emulator-loaded', loaded);
        void emulator.destroy().catch(() => {});
        reject(new Error(`v86 did not load within ${LOAD_TIMEOUT_MS / 1000} s (is ${WASM_PATH} readable?)`));
      }, LOAD_TIMEOUT_MS);
      const loaded = (): void => {
        clearTimeout(timer);
        emulator.remove_listener('emulator-loaded', loaded);
        resolve();
      };
      emulator.add_listener('emulator-loaded', loaded);
    });
    let machine: V86Machine | undefined;
    try {
      const reported = new Set<string>();
      // A misbehaving guest can make a handler throw at every access: say it once per device.
      const onError: HandlerErrorSink =
        opts.onDeviceError ??
        ((device, error) => {
          if (reported.has(device)) return;
          reported.add(device);
          console.error(`vmswitch: ${device}: ${(error as Error).message} (further errors of this device are not shown)`);
        });
      const cpu = cpuOf(emulator);
      const platform = new V86Platform(cpu, onError);
      if (opts.v86VirtioNet) platform.v86VirtioNet = virtioNetLink(emulator, cpu, onError);
      machine = new V86Machine(emulator, platform, onError);
      // Devices go on the bus before the BIOS enumerates it (and before a restore, which needs their slots).
      opts.setup(platform);
      if (opts.restore) {
        await emulator.restore_state(arrayBufferOf(opts.restore.state));
        opts.restore.afterRestore();
        platform.afterRestore();
      }
      await emulator.run();
      return machine;
    } catch (error) {
      if (machine) await machine.destroy();
      else await emulator.destroy();
      throw error;
    }
  }

  /** Guest serial output (ttyS0), in batches. Returns an unsubscribe function. */
  onSerialOutput(listener: (bytes: Uint8Array) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** Bytes typed into the guest's ttyS0. */
  sendSerial(bytes: Uint8Array): void {
    if (this.destroyed) return;
    this.emulator.serial_send_bytes(0, bytes);
  }

  /** v86's own state (RAM, CPU, its devices, PCI config spaces); our devices' state is saved beside it. */
  async saveState(): Promise<Uint8Array> {
    return new Uint8Array(await this.emulator.save_state());
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.platform.destroy();
    this.emulator.remove_listener('serial0-output-byte', this.onByte);
    this.outputListeners.clear();
    this.pending = [];
    await this.emulator.destroy();
    this.loop.stop();
  }
}
