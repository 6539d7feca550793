// The Intel 82540EM as a GuestNic: PCI identity, BAR0 accesses of any size
// (dispatched through the register table, register-table.ts), the BAR1 I/O
// window (IOADDR/IODATA, which Linux uses to reset the 82540), link control,
// driver events, tracing and snapshots. Transmit, receive, EEPROM, PHY and
// interrupts live in their own modules.
import type { Frame, FrameSink, RxOffloads } from '../../net/frame.ts';
import { formatMac } from '../../net/frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent, NicOptions } from '../../net/nic.ts';
import { OffloadError, adaptForReceiver } from '../../net/offload.ts';
import { RX_DROP_REASONS, bump, type GuestErrorReason, type RxDropReason } from '../../net/drop-reasons.ts';
import type { AccessSize, GuestMemory, PciFunction, Platform, TimerHandle, Timers, TraceSink } from '../../platform.ts';
import type { E1000Core } from './core.ts';
import { Eeprom } from './eeprom.ts';
import { DelayedCause, Interrupts } from './interrupts.ts';
import { Phy } from './phy.ts';
import { REGISTER_AT, readRegister, resetRegisters, writeRegister, type Register, type RegisterHost } from './register-table.ts';
import {
  ICR_LSC,
  ICR_RXT0,
  ICR_TXDW,
  IO_SIZE,
  MMIO_SIZE,
  PCI_CLASS_ETHERNET,
  PCI_DEVICE_82540EM,
  PCI_REVISION,
  PCI_VENDOR_INTEL,
  RAH_AV,
  RCTL_EN,
  RCTL_LBM_MASK,
  RCTL_LBM_SHIFT,
  RCTL_LPE,
  REG,
  STAT,
} from './registers.ts';
import { MAX_FRAME_LPE, MAX_FRAME_NO_LPE, RxEngine, decodeRxState } from './rx.ts';
import { STATE_VERSION, assertE1000State, decodeCounters, packRegisters, unpackMac, unpackRegisters, type E1000State } from './state.ts';
import { TxEngine, decodeTxState } from './tx.ts';

const TDT_REGISTER = REGISTER_AT[REG.TDT >>> 2]!;
const NO_GSO = new Set<never>();

export class E1000 implements GuestNic, E1000Core {
  readonly model = 'e1000' as const;
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  readonly memory: GuestMemory;
  readonly interrupts: Interrupts;
  readonly rxDelay: DelayedCause;
  readonly txDelay: DelayedCause;
  readonly pci: PciFunction;
  /** The platform's trace sink, if tracing was asked for (tested before building any event). */
  readonly trace: TraceSink | undefined;
  private readonly timers: Timers;
  private readonly regs = new Uint32Array(MMIO_SIZE / 4);
  private readonly eeprom: Eeprom;
  private readonly phy = new Phy();
  private readonly tx: TxEngine;
  private readonly rx: RxEngine;
  private currentMac: Uint8Array;
  private linkUp = true;
  private ready = false;
  private ioAddress = 0;
  private sink: FrameSink | null = null;
  private outbox: Frame[] = [];
  private loopbackQueue: Frame[] = [];
  private inDoorbell = false;
  private continuation: TimerHandle | null = null;
  private destroyed = false;
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();
  /** What the register table's handlers reach (built once). */
  private readonly host: RegisterHost;

  constructor(platform: Platform, options: NicOptions) {
    if (options.mac.length !== 6) throw new TypeError('e1000: a MAC address has 6 bytes');
    this.memory = platform.memory;
    this.timers = platform.timers;
    this.trace = platform.trace;
    this.currentMac = Uint8Array.from(options.mac);
    this.eeprom = new Eeprom(this.currentMac);
    this.pci = platform.addPciFunction({
      name: 'e1000',
      vendorId: PCI_VENDOR_INTEL,
      deviceId: PCI_DEVICE_82540EM,
      revision: PCI_REVISION,
      classCode: PCI_CLASS_ETHERNET,
      subsystemVendorId: PCI_VENDOR_INTEL,
      subsystemId: 0x001e,
      bars: [
        { kind: 'mmio', size: MMIO_SIZE, handlers: { read: (o, s) => this.mmioRead(o, s), write: (o, s, v) => this.mmioWrite(o, s, v) } },
        { kind: 'io', size: IO_SIZE, handlers: { read: (o, s) => this.ioRead(o, s), write: (o, s, v) => this.ioWrite(o, s, v) } },
      ],
    });
    this.interrupts = new Interrupts(this.pci.irq, this.timers, this.trace);
    this.rxDelay = new DelayedCause(this.interrupts, this.timers, ICR_RXT0);
    this.txDelay = new DelayedCause(this.interrupts, this.timers, ICR_TXDW);
    this.tx = new TxEngine(this);
    this.rx = new RxEngine(this);
    const device = this;
    this.host = {
      regs: this.regs,
      interrupts: this.interrupts,
      rxDelay: this.rxDelay,
      eeprom: this.eeprom,
      phy: this.phy,
      tx: this.tx,
      rx: this.rx,
      get linkUp() {
        return device.linkUp;
      },
      reset: () => this.resetDevice(),
      macChanged: () => this.checkMacChange(),
      receiverChanged: () => this.updateDriverState('receiver disabled'),
    };
    this.resetDevice();
  }

  // ---- GuestNic --------------------------------------------------------------

  get mac(): Uint8Array {
    return this.currentMac;
  }

  get driverReady(): boolean {
    return this.ready;
  }

  get rxOffloads(): RxOffloads {
    return { csum: false, gso: NO_GSO, maxFrameSize: this.regs[REG.RCTL >> 2]! & RCTL_LPE ? MAX_FRAME_LPE : MAX_FRAME_NO_LPE };
  }

  /** Line assertions so far (for interrupts-per-packet figures). */
  get interruptCount(): number {
    return this.interrupts.assertions;
  }

  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }

  receive(frames: readonly Frame[]): void {
    if (this.destroyed) return;
    if (!this.linkUp && !this.loopbackMode) {
      for (let i = 0; i < frames.length; i++) this.rxDropped(RX_DROP_REASONS.linkDown);
      return;
    }
    this.receiveResolved(frames);
  }

  setLinkUp(up: boolean): void {
    if (this.destroyed || up === this.linkUp) return;
    this.linkUp = up;
    this.phy.linkUp = up;
    this.interrupts.raise(ICR_LSC);
    this.updateDriverState('link down');
  }

  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  destroy(): void {
    this.destroyed = true;
    this.rxDelay.cancel();
    this.txDelay.cancel();
    this.interrupts.destroy();
    if (this.continuation) this.timers.clearTimeout(this.continuation);
    this.continuation = null;
    this.sink = null;
    this.listeners.clear();
  }

  // ---- E1000Core -------------------------------------------------------------

  get busMaster(): boolean {
    return this.pci.busMaster;
  }

  reg(offset: number): number {
    return this.regs[offset >>> 2]!;
  }

  setReg(offset: number, value: number): void {
    this.regs[offset >>> 2] = value;
  }

  stat(offset: number, amount = 1): void {
    const i = offset >>> 2;
    this.regs[i] = Math.min(0xffffffff, this.regs[i]! + amount);
  }

  stat64(lowOffset: number, amount: number): void {
    const i = lowOffset >>> 2;
    const sum = this.regs[i]! + amount;
    this.regs[i] = sum >>> 0;
    this.regs[i + 1] = (this.regs[i + 1]! + Math.floor(sum / 0x100000000)) >>> 0;
  }

  guestError(reason: GuestErrorReason): void {
    bump(this.counters.guestErrors, reason);
  }

  rxDropped(reason: RxDropReason): void {
    bump(this.counters.rxDropped, reason);
  }

  transmit(frame: Frame): void {
    const segments = frame.gso ? Math.ceil((frame.data.length - frame.gso.headerLength) / frame.gso.segmentSize) : 1;
    this.counters.txFrames += segments;
    this.counters.txBytes += frame.data.length;
    this.stat(STAT.GPTC, segments);
    this.stat(STAT.TPT, segments);
    this.stat64(STAT.GOTCL, frame.data.length + 4 * segments);
    this.stat64(STAT.TOTL, frame.data.length + 4 * segments);
    if (frame.data[0]! & 1) this.stat(frame.data[0] === 0xff && frame.data[1] === 0xff ? STAT.BPTC : STAT.MPTC, segments);
    // Delivered when the doorbell's work is done, so a synchronous receiver never re-enters transmit.
    if (this.loopbackMode) this.loopbackQueue.push(frame);
    else this.outbox.push(frame);
  }

  scheduleTxContinuation(): void {
    if (this.continuation || this.destroyed) return;
    this.continuation = this.timers.setTimeout(() => {
      this.continuation = null;
      // Resumes as if the driver rang TDT again with the same tail.
      this.doorbell(TDT_REGISTER, this.regs[TDT_REGISTER.index]!);
    }, 0);
  }

  // ---- internals ----------------------------------------------------------------

  private get loopbackMode(): boolean {
    return ((this.regs[REG.RCTL >> 2]! & RCTL_LBM_MASK) >>> RCTL_LBM_SHIFT) === 1 || this.phy.loopback;
  }

  private emit(event: NicDriverEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  /** Runs a register write's work, then hands out what it produced (once, outside the work). */
  private doorbell(register: Register, value: number): void {
    if (this.destroyed) return;
    if (this.inDoorbell) {
      writeRegister(this.host, register, value);
      return;
    }
    this.inDoorbell = true;
    try {
      writeRegister(this.host, register, value);
    } finally {
      this.inDoorbell = false;
    }
    this.flush();
  }

  private flush(): void {
    // Loopback frames may be TSO/checksum frames: resolve them as any receiver without offloads would.
    while (this.loopbackQueue.length) {
      const frames = this.loopbackQueue;
      this.loopbackQueue = [];
      this.receiveResolved(frames);
    }
    if (this.outbox.length) {
      const frames = this.outbox;
      this.outbox = [];
      if (this.sink && this.linkUp) this.sink.deliver(frames);
    }
  }

  private receiveResolved(frames: readonly Frame[]): void {
    let resolved: Frame[] | readonly Frame[] = frames;
    if (frames.some((f) => f.gso || f.csum)) {
      const out: Frame[] = [];
      const rx = this.rxOffloads;
      for (const frame of frames) {
        try {
          out.push(...adaptForReceiver(frame, rx));
        } catch (error) {
          if (!(error instanceof OffloadError)) throw error;
          this.rxDropped(error.reason);
        }
      }
      resolved = out;
    }
    this.rx.receive(resolved);
  }

  private resetDevice(): void {
    const wasReady = this.ready;
    resetRegisters(this.regs);
    this.eeprom.reset();
    this.interrupts.reset();
    this.rxDelay.cancel();
    this.txDelay.cancel();
    if (this.continuation) this.timers.clearTimeout(this.continuation);
    this.continuation = null;
    this.tx.reset();
    this.rx.reset();
    this.outbox = [];
    this.loopbackQueue = [];
    this.ioAddress = 0;
    // The MAC comes back from the EEPROM into RA[0], valid.
    const w = this.eeprom.words;
    this.regs[REG.RA >> 2] = (w[0]! | (w[1]! << 16)) >>> 0;
    this.regs[(REG.RA + 4) >> 2] = (w[2]! | RAH_AV) >>> 0;
    this.ready = false;
    if (wasReady) this.emit({ type: 'stopped', reason: 'reset' });
    this.checkMacChange();
  }

  private updateDriverState(reason: string): void {
    const enabled = (this.regs[REG.RCTL >> 2]! & RCTL_EN) !== 0;
    if (enabled && this.linkUp && !this.ready) {
      this.ready = true;
      this.emit({ type: 'ready' });
    } else if (!enabled && this.ready) {
      this.ready = false;
      this.emit({ type: 'stopped', reason });
    }
  }

  private checkMacChange(): void {
    const low = this.regs[REG.RA >> 2]!;
    const high = this.regs[(REG.RA + 4) >> 2]!;
    if (!(high & RAH_AV)) return;
    const mac = Uint8Array.of(low & 0xff, (low >>> 8) & 0xff, (low >>> 16) & 0xff, low >>> 24, high & 0xff, (high >>> 8) & 0xff);
    if (mac.every((b, i) => b === this.currentMac[i])) return;
    this.currentMac = mac;
    this.emit({ type: 'mac', mac: Uint8Array.from(mac) });
  }

  // ---- bus access ------------------------------------------------------------------

  /** BAR0: the bus access, traced when asked. */
  private mmioRead(offset: number, size: AccessSize): number {
    const value = this.readAccess(offset, size);
    if (this.trace) this.traceAccess('mmio.read', offset, size, value);
    return value;
  }

  private mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (this.trace) this.traceAccess('mmio.write', offset, size, value >>> 0);
    this.writeAccess(offset, size, value);
  }

  private traceAccess(event: string, offset: number, size: AccessSize, value: number): void {
    const register = offset >= 0 && offset < MMIO_SIZE ? REGISTER_AT[offset >>> 2] : null;
    this.trace!('e1000', event, { reg: register ? register.name : 'unknown', offset, size, value });
  }

  /**
   * Any size at any offset. Read-to-clear registers (ICR, statistics) clear
   * only on an access that covers their first byte, so a 16-bit read split
   * into two byte reads by v86 clears once, on the first.
   */
  private readAccess(offset: number, size: AccessSize): number {
    if (offset < 0 || offset + size > MMIO_SIZE) return 0;
    const shift = (offset & 3) * 8;
    if (shift + size * 8 > 32) {
      // An access straddling two registers: assemble it byte by byte.
      let value = 0;
      for (let b = 0; b < size; b++) value |= this.readAccess(offset + b, 1) << (8 * b);
      return value >>> 0;
    }
    const register = REGISTER_AT[offset >>> 2];
    if (!register) return 0;
    const value = readRegister(this.host, register, shift === 0);
    if (size === 4) return value >>> 0;
    return (value >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  private writeAccess(offset: number, size: AccessSize, value: number): void {
    if (offset < 0 || offset + size > MMIO_SIZE || this.destroyed) return;
    const shift = (offset & 3) * 8;
    if (shift + size * 8 > 32) {
      for (let b = 0; b < size; b++) this.writeAccess(offset + b, 1, (value >>> (8 * b)) & 0xff);
      return;
    }
    const register = REGISTER_AT[offset >>> 2];
    if (!register) return;
    let word = value >>> 0;
    if (size !== 4) {
      const mask = (size === 1 ? 0xff : 0xffff) << shift;
      const current = register.command ? 0 : readRegister(this.host, register, false);
      word = ((current & ~mask) | ((value << shift) & mask)) >>> 0;
    }
    this.doorbell(register, word);
  }

  private ioRead(offset: number, size: AccessSize): number {
    if (offset < 4) return (this.ioAddress >>> ((offset & 3) * 8)) & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
    if (offset < 8) return this.mmioRead(this.ioAddress + (offset - 4), size);
    return 0;
  }

  private ioWrite(offset: number, size: AccessSize, value: number): void {
    if (offset < 4) {
      if (size === 4) this.ioAddress = value & (MMIO_SIZE - 4);
      else {
        const shift = (offset & 3) * 8;
        const mask = (size === 1 ? 0xff : 0xffff) << shift;
        this.ioAddress = ((this.ioAddress & ~mask) | ((value << shift) & mask)) & (MMIO_SIZE - 4);
      }
      return;
    }
    if (offset < 8) this.mmioWrite(this.ioAddress + (offset - 4), size, value);
  }

  // ---- snapshots -------------------------------------------------------------------

  saveState(): E1000State {
    return {
      version: STATE_VERSION,
      model: 'e1000',
      mac: formatMac(this.currentMac),
      registers: packRegisters(this.regs),
      ioAddress: this.ioAddress,
      linkUp: this.linkUp,
      driverReady: this.ready,
      eeprom: this.eeprom.save(),
      phy: this.phy.save(),
      interrupts: this.interrupts.save(),
      delayedCauses: (this.rxDelay.pending ? ICR_RXT0 : 0) | (this.txDelay.pending ? ICR_TXDW : 0),
      tx: this.tx.save(),
      rx: this.rx.save(),
      counters: structuredClone(this.counters),
    };
  }

  restoreState(state: unknown): void {
    // Everything is checked and decoded before anything is applied: a bad state leaves the device as it was.
    assertE1000State(state);
    const mac = unpackMac(state.mac);
    const registers = unpackRegisters(state.registers);
    const tx = decodeTxState(state.tx);
    const rx = decodeRxState(state.rx);
    const counters = state.counters === undefined ? undefined : decodeCounters(state.counters);
    this.regs.set(registers);
    this.ioAddress = state.ioAddress & (MMIO_SIZE - 4);
    this.currentMac = mac;
    this.linkUp = !!state.linkUp;
    this.phy.linkUp = this.linkUp;
    this.ready = !!state.driverReady;
    this.eeprom.restore(state.eeprom);
    this.phy.restore(state.phy);
    this.tx.restore(tx);
    this.rx.restore(rx);
    this.rxDelay.cancel();
    this.txDelay.cancel();
    this.interrupts.restore(state.interrupts);
    if (state.delayedCauses) this.interrupts.raise(state.delayedCauses);
    // Taken as saved: a state from before the kebab-case reasons keeps its old keys. No migration: the template
    // snapshots in the cache are re-made whenever emulator/**/*.ts changes (their cache key hashes it).
    if (counters) Object.assign(this.counters, counters);
    this.outbox = [];
    this.loopbackQueue = [];
  }
}

export function createE1000Device(platform: Platform, options: NicOptions): E1000 {
  return new E1000(platform, options);
}
