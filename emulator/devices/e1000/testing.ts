// A harness for register-level e1000 tests: a device on the fake platform,
// rings in fake guest RAM, and the driver-side helpers (EEPROM bit-banging,
// MDIC) written the way Linux's e1000 driver does them.
import { FakePlatform, type FakePciFunction } from '../../testing.ts';
import type { Frame, FrameSink } from '../../net/frame.ts';
import type { TraceSink } from '../../platform.ts';
import { E1000 } from './device.ts';
import { EECD_CS, EECD_DI, EECD_DO, EECD_GNT, EECD_REQ, EECD_SK, MDIC_OP_READ, MDIC_OP_WRITE, MDIC_READY, REG, RCTL_BAM, RCTL_EN, TCTL_EN, TCTL_PSP } from './registers.ts';
import type { TxContext } from './offloads.ts';

export const TEST_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
export const TX_RING = 0x10000;
export const TX_BUFFERS = 0x100000;
export const RX_RING = 0x20000;
export const RX_BUFFERS = 0x200000;

export class CaptureSink implements FrameSink {
  frames: Frame[] = [];
  deliver(frames: readonly Frame[]): void {
    this.frames.push(...frames);
  }
}

export class Harness {
  readonly platform: FakePlatform;
  readonly nic: E1000;
  readonly fn: FakePciFunction;
  readonly sink = new CaptureSink();
  rxCount = 0;
  rxBufferSize = 2048;
  txCount = 0;

  constructor(memorySize = 8 * 1024 * 1024, mac = TEST_MAC, trace?: TraceSink) {
    this.platform = new FakePlatform(memorySize, trace);
    this.nic = new E1000(this.platform, { mac });
    this.fn = this.platform.functions[0]!;
    this.nic.setTransmitSink(this.sink);
  }

  get memory() {
    return this.platform.memory;
  }

  get irq() {
    return this.fn.irq;
  }

  r(offset: number, size: 1 | 2 | 4 = 4): number {
    return this.fn.read(0, offset, size);
  }

  w(offset: number, value: number, size: 1 | 2 | 4 = 4): void {
    this.fn.write(0, offset, value, size);
  }

  // ---- driver-side helpers ----
  eepromRead(word: number): number {
    this.w(REG.EECD, EECD_REQ);
    if (!(this.r(REG.EECD) & EECD_GNT)) throw new Error('EEPROM not granted');
    let eecd = EECD_REQ | EECD_CS;
    this.w(REG.EECD, eecd);
    const shiftOut = (value: number, bits: number) => {
      for (let mask = 1 << (bits - 1); mask; mask >>= 1) {
        eecd = value & mask ? eecd | EECD_DI : eecd & ~EECD_DI;
        this.w(REG.EECD, eecd);
        this.w(REG.EECD, eecd | EECD_SK);
        this.w(REG.EECD, eecd);
      }
      eecd &= ~EECD_DI;
      this.w(REG.EECD, eecd);
    };
    shiftOut(0b110, 3);
    shiftOut(word, 6);
    let data = 0;
    for (let i = 0; i < 16; i++) {
      this.w(REG.EECD, eecd | EECD_SK);
      data = (data << 1) | (this.r(REG.EECD) & EECD_DO ? 1 : 0);
      this.w(REG.EECD, eecd);
    }
    this.w(REG.EECD, 0);
    return data;
  }

  phyRead(reg: number, phy = 1): { value: number; error: boolean } {
    this.w(REG.MDIC, MDIC_OP_READ | (phy << 21) | (reg << 16));
    const mdic = this.r(REG.MDIC);
    if (!(mdic & MDIC_READY)) throw new Error('MDIC not ready');
    return { value: mdic & 0xffff, error: (mdic & (1 << 30)) !== 0 };
  }

  phyWrite(reg: number, value: number): void {
    this.w(REG.MDIC, MDIC_OP_WRITE | (1 << 21) | (reg << 16) | value);
  }

  // ---- rings ----
  setupTx(count = 16, tctl = TCTL_EN | TCTL_PSP): void {
    this.txCount = count;
    this.w(REG.TDBAL, TX_RING);
    this.w(REG.TDBAH, 0);
    this.w(REG.TDLEN, count * 16);
    this.w(REG.TDH, 0);
    this.w(REG.TDT, 0);
    this.w(REG.TCTL, tctl);
  }

  private txDesc(index: number): number {
    return TX_RING + index * 16;
  }

  putLegacy(index: number, buffer: number, length: number, cmd: number, cso = 0, css = 0, special = 0): void {
    const at = this.txDesc(index);
    const m = this.memory;
    m.writeU32(at, buffer);
    m.writeU32(at + 4, 0);
    m.writeU32(at + 8, (length & 0xffff) | (cso << 16) | (cmd << 24));
    m.writeU32(at + 12, (css << 8) | (special << 16));
  }

  putData(index: number, buffer: number, length: number, dcmd: number, popts = 0, special = 0, high = 0): void {
    const at = this.txDesc(index);
    const m = this.memory;
    m.writeU32(at, buffer);
    m.writeU32(at + 4, high);
    m.writeU32(at + 8, ((length & 0xfffff) | (1 << 20) | ((dcmd | 0x20) << 24)) >>> 0);
    m.writeU32(at + 12, ((popts << 8) | (special << 16)) >>> 0);
  }

  putContext(index: number, c: Partial<TxContext>): void {
    const at = this.txDesc(index);
    const m = this.memory;
    m.writeU32(at, (c.ipcss ?? 0) | ((c.ipcso ?? 0) << 8) | ((c.ipcse ?? 0) << 16));
    m.writeU32(at + 4, ((c.tucss ?? 0) | ((c.tucso ?? 0) << 8) | ((c.tucse ?? 0) << 16)) >>> 0);
    m.writeU32(at + 8, (((c.paylen ?? 0) & 0xfffff) | (((c.tucmd ?? 0) | 0x20) << 24)) >>> 0);
    m.writeU32(at + 12, (((c.hdrlen ?? 0) << 8) | ((c.mss ?? 0) << 16)) >>> 0);
  }

  txStatus(index: number): number {
    return this.memory.bytes[this.txDesc(index) + 12]!;
  }

  setupRx(count = 16, rctl = RCTL_EN | RCTL_BAM, bufferSize = 2048): void {
    this.rxCount = count;
    this.rxBufferSize = bufferSize;
    for (let i = 0; i < count; i++) {
      this.memory.writeU32(RX_RING + i * 16, RX_BUFFERS + i * bufferSize);
      this.memory.writeU32(RX_RING + i * 16 + 4, 0);
      this.memory.writeU32(RX_RING + i * 16 + 8, 0);
      this.memory.writeU32(RX_RING + i * 16 + 12, 0);
    }
    this.w(REG.RDBAL, RX_RING);
    this.w(REG.RDBAH, 0);
    this.w(REG.RDLEN, count * 16);
    this.w(REG.RDH, 0);
    this.w(REG.RDT, count - 1);
    this.w(REG.RCTL, rctl);
  }

  rxDesc(index: number): { length: number; status: number; errors: number; special: number; data: Uint8Array } {
    const at = RX_RING + index * 16;
    const m = this.memory;
    const length = m.readU16(at + 8);
    return {
      length,
      status: m.bytes[at + 12]!,
      errors: m.bytes[at + 13]!,
      special: m.readU16(at + 14),
      data: m.bytes.slice(RX_BUFFERS + index * this.rxBufferSize, RX_BUFFERS + index * this.rxBufferSize + length),
    };
  }
}

/** `h`'s saved state, through JSON as in a snapshot file, restored into a fresh device on a copy of its RAM. */
export function restoredCopy(h: Harness) {
  const saved = JSON.parse(JSON.stringify(h.nic.saveState()));
  const platform = new FakePlatform(h.memory.size);
  platform.memory.bytes.set(h.memory.bytes);
  const nic = new E1000(platform, { mac: Uint8Array.of(2, 0, 0, 0, 0, 9) });
  nic.restoreState(saved);
  const fn = platform.functions[0]!;
  return { platform, nic, irq: fn.irq, read: (offset: number) => fn.read(0, offset, 4), write: (offset: number, value: number) => fn.write(0, offset, value, 4) };
}

export function ethFrame(dst: ArrayLike<number>, length = 60, etherType = 0x0800, fill = 0x11): Uint8Array {
  const frame = new Uint8Array(length).fill(fill);
  frame.set(Array.from(dst), 0);
  frame.set([0x02, 0, 0, 0, 0, 0x99], 6);
  frame[12] = etherType >> 8;
  frame[13] = etherType & 0xff;
  return frame;
}
