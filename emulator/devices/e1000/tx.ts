// Transmit: walks the descriptor ring from TDH to TDT (legacy, context and
// data descriptors), assembles packets (capped at 64 KiB), applies checksum
// offload, TSO and VLAN insertion, writes DD back where RS/RPS asks, and
// raises TXDW. Work per doorbell is bounded; a guest programming error
// (ring beyond RAM, head/tail past the ring, bad TSO fields) is counted and
// stops the ring until the driver reprograms it or resets the device.
import type { Frame } from '../../net/frame.ts';
import { ETH_HEADER_LENGTH } from '../../net/frame.ts';
import { encodeBase64 } from '../../encoding.ts';
import { DmaError } from '../../platform.ts';
import { OffloadError } from '../../net/offload.ts';
import { GUEST_ERROR_REASONS, type GuestErrorReason } from '../../net/drop-reasons.ts';
import { address64, type E1000Core } from './core.ts';
import {
  EMPTY_CONTEXT,
  MAX_PACKET_SIZE,
  TUCMD_TSE,
  TXD_CMD_DEXT,
  TXD_CMD_EOP,
  TXD_CMD_IC,
  TXD_CMD_IDE,
  TXD_CMD_RPS,
  TXD_CMD_RS,
  TXD_CMD_TSE,
  TXD_CMD_VLE,
  TXD_POPTS_IXSM,
  TXD_POPTS_TXSM,
  insertChecksum,
  insertVlanTag,
  parseContext,
  tsoFrames,
  type TxContext,
} from './offloads.ts';
import { CTRL_VME, ICR_TXDW, ICR_TXQE, REG, STAT, TCTL_EN, TCTL_PSP } from './registers.ts';
import { decodeSavedBytes, stateError } from './state.ts';

/** Descriptors handled per doorbell before the rest is deferred to a timer. */
export const TX_DESCRIPTORS_PER_KICK = 1024;
/** Buffer bytes read per doorbell before the rest is deferred. */
export const TX_BYTES_PER_KICK = 1 << 21;
const MIN_FRAME = 60;

export interface TxState {
  context: TxContext;
  halted: boolean;
  /** The packet being assembled across descriptors (base64), if any. */
  partial: { data: string; overflow: boolean; legacy: boolean; cso: number; css: number; insertChecksum: boolean; popts: number; tse: boolean } | null;
}

export class TxEngine {
  context: TxContext = EMPTY_CONTEXT;
  /** Set after a guest error; cleared when the driver rewrites the ring registers or resets. */
  halted = false;
  private readonly buffer = new Uint8Array(MAX_PACKET_SIZE);
  private readonly desc = new Uint8Array(16);
  private readonly descView = new DataView(this.desc.buffer);
  private length = 0;
  private started = false;
  private overflow = false;
  private legacy = false;
  private cso = 0;
  private css = 0;
  private legacyChecksum = false;
  private popts = 0;
  private tse = false;
  private inKick = false;

  constructor(private readonly core: E1000Core) {}

  reset(): void {
    this.context = EMPTY_CONTEXT;
    this.halted = false;
    this.dropPartial();
  }

  private dropPartial(): void {
    this.length = 0;
    this.started = false;
    this.overflow = false;
  }

  /** Processes TDH..TDT (on TDT/TCTL writes and deferred continuations). */
  kick(): void {
    // A loopback frame cannot re-enter transmit, but guard anyway: nested kicks would interleave packets.
    if (this.inKick) return;
    this.inKick = true;
    try {
      this.run();
    } finally {
      this.inKick = false;
    }
  }

  private run(): void {
    const core = this.core;
    if (!(core.reg(REG.TCTL) & TCTL_EN) || this.halted) return;
    const count = core.reg(REG.TDLEN) >>> 4;
    let head = core.reg(REG.TDH);
    const tail = core.reg(REG.TDT);
    if (count === 0 || head === tail) return;
    if (head >= count || tail >= count) {
      this.fail(GUEST_ERROR_REASONS.txRingIndexOutOfRange);
      return;
    }
    if (!core.busMaster) {
      core.guestError(GUEST_ERROR_REASONS.txDoorbellWithoutBusMaster);
      return;
    }
    const base = address64(core.reg(REG.TDBAL), core.reg(REG.TDBAH));
    const startHead = head;
    let descriptors = 0;
    let bytes = 0;
    let wroteBack = false;
    let delayInterrupt = false;
    const memory = core.memory;
    const view = this.descView;
    const d = this.desc;
    while (head !== tail) {
      if (descriptors >= TX_DESCRIPTORS_PER_KICK || bytes >= TX_BYTES_PER_KICK) {
        core.scheduleTxContinuation();
        break;
      }
      descriptors++;
      const at = base + head * 16;
      try {
        memory.readInto(at, d);
        const lower = view.getUint32(8, true);
        const cmd = d[11]!;
        const extended = (cmd & TXD_CMD_DEXT) !== 0;
        let writeBack: boolean;
        if (extended && ((lower >>> 20) & 0xf) === 0) {
          this.context = parseContext(d);
          writeBack = (cmd & TXD_CMD_RS) !== 0;
        } else {
          const length = extended ? lower & 0xfffff : lower & 0xffff;
          if (!this.started) {
            this.started = true;
            this.legacy = !extended;
            if (extended) {
              this.popts = d[13]!;
              this.tse = (cmd & TXD_CMD_TSE) !== 0;
            } else {
              this.cso = d[10]!;
              this.css = d[13]!;
              this.legacyChecksum = (cmd & TXD_CMD_IC) !== 0;
            }
          }
          bytes += this.append(address64(view.getUint32(0, true), view.getUint32(4, true)), length);
          if (cmd & TXD_CMD_EOP) this.finishPacket((cmd & TXD_CMD_VLE) !== 0, view.getUint16(14, true));
          writeBack = (cmd & (TXD_CMD_RS | (extended ? 0 : TXD_CMD_RPS))) !== 0;
          if (cmd & TXD_CMD_IDE) delayInterrupt = true;
        }
        if (writeBack) {
          memory.writeU32(at + 12, view.getUint32(12, true) | 1);
          wroteBack = true;
        }
      } catch (error) {
        if (!(error instanceof DmaError)) throw error;
        core.setReg(REG.TDH, head);
        this.fail(GUEST_ERROR_REASONS.txDmaOutsideRam);
        return;
      }
      head = head + 1 === count ? 0 : head + 1;
    }
    core.setReg(REG.TDH, head);
    if (core.trace) core.trace('e1000', 'tx.ring', { head: startHead, tail, descriptors, headAfter: head });
    if (wroteBack) {
      if (delayInterrupt && core.reg(REG.TIDV) > 0) core.txDelay.packet(core.reg(REG.TIDV), core.reg(REG.TADV));
      else core.txDelay.fire();
    }
    if (head === tail) core.interrupts.raise(ICR_TXQE);
  }

  private fail(reason: GuestErrorReason): void {
    this.core.guestError(reason);
    this.halted = true;
    this.dropPartial();
  }

  /** Copies a buffer into the packet; past the cap only marks the packet for dropping. Returns bytes read. */
  private append(addr: number, length: number): number {
    if (length === 0) return 0;
    if (this.overflow || this.length + length > MAX_PACKET_SIZE) {
      this.overflow = true;
      return 0;
    }
    this.core.memory.readInto(addr, this.buffer.subarray(this.length, this.length + length));
    this.length += length;
    return length;
  }

  private finishPacket(vlan: boolean, special: number): void {
    const core = this.core;
    const overflow = this.overflow;
    const length = this.length;
    const legacy = this.legacy;
    this.dropPartial();
    if (overflow) {
      core.guestError(GUEST_ERROR_REASONS.txTooBig);
      return;
    }
    if (length === 0) {
      core.guestError(GUEST_ERROR_REASONS.txEmptyPacket);
      return;
    }
    const packet = this.buffer.slice(0, length);
    let frames: Frame[];
    if (!legacy && this.tse && (this.context.tucmd & TUCMD_TSE)) {
      try {
        frames = tsoFrames(packet, this.context);
        core.stat(STAT.TSCTC);
      } catch (error) {
        if (!(error instanceof OffloadError)) throw error;
        core.stat(STAT.TSCTFC);
        core.guestError(error.reason);
        return;
      }
    } else {
      const frame = this.checksummed(packet, legacy);
      // Not an Ethernet frame (PSP off, or nothing to pad): it never reaches the wire or our own receiver.
      if (frame.data.length < ETH_HEADER_LENGTH) {
        core.guestError(GUEST_ERROR_REASONS.txRunt);
        return;
      }
      frames = [frame];
    }
    if (vlan && core.reg(REG.CTRL) & CTRL_VME) {
      const tpid = core.reg(REG.VET) & 0xffff;
      frames = frames.map((f) => insertVlanTag(f, tpid, special));
    }
    for (const frame of frames) core.transmit(frame);
  }

  private checksummed(packet: Uint8Array, legacy: boolean): Frame {
    const core = this.core;
    const frame: Frame = { data: packet };
    if (legacy) {
      if (this.legacyChecksum) {
        const problem = insertChecksum(packet, this.css, this.cso, 0);
        if (problem) core.guestError(problem);
      }
    } else {
      const c = this.context;
      if (this.popts & TXD_POPTS_IXSM) {
        const problem = insertChecksum(packet, c.ipcss, c.ipcso, c.ipcse);
        if (problem) core.guestError(problem);
      }
      if (this.popts & TXD_POPTS_TXSM) {
        if (c.tucse === 0 && c.tucss < packet.length && c.tucso >= c.tucss && c.tucso + 2 <= packet.length) {
          // Left for whoever receives it (a virtio guest takes it as is; others get completeChecksum()).
          frame.csum = { start: c.tucss, offset: c.tucso - c.tucss };
        } else {
          const problem = insertChecksum(packet, c.tucss, c.tucso, c.tucse);
          if (problem) core.guestError(problem);
        }
      }
    }
    if (packet.length < MIN_FRAME && core.reg(REG.TCTL) & TCTL_PSP) {
      const padded = new Uint8Array(MIN_FRAME);
      padded.set(packet);
      frame.data = padded;
    }
    return frame;
  }

  save(): TxState {
    return {
      context: { ...this.context },
      halted: this.halted,
      partial: this.started
        ? {
            data: encodeBase64(this.buffer.subarray(0, this.length)),
            overflow: this.overflow,
            legacy: this.legacy,
            cso: this.cso,
            css: this.css,
            insertChecksum: this.legacyChecksum,
            popts: this.popts,
            tse: this.tse,
          }
        : null,
    };
  }

  /** Applies a state decodeTxState accepted. */
  restore(state: TxRestore): void {
    this.context = state.context;
    this.halted = state.halted;
    this.dropPartial();
    const p = state.partial;
    if (p) {
      this.length = Math.min(p.data.length, MAX_PACKET_SIZE);
      this.buffer.set(p.data.subarray(0, this.length));
      this.started = true;
      this.overflow = !!p.overflow;
      this.legacy = !!p.legacy;
      this.cso = p.cso & 0xff;
      this.css = p.css & 0xff;
      this.legacyChecksum = !!p.insertChecksum;
      this.popts = p.popts & 0xff;
      this.tse = !!p.tse;
    }
  }
}

/** Saved transmit state, checked and decoded: applying it cannot fail. */
export interface TxRestore {
  context: TxContext;
  halted: boolean;
  partial: (Omit<NonNullable<TxState['partial']>, 'data'> & { data: Uint8Array }) | null;
}

export function decodeTxState(state: TxState): TxRestore {
  const p: unknown = state.partial;
  if (p !== null && p !== undefined && typeof p !== 'object') throw stateError('tx.partial is not an object');
  const partial = state.partial;
  return {
    context: decodeContext(state.context),
    halted: !!state.halted,
    partial: partial ? { ...partial, data: decodeSavedBytes(partial.data, 'tx.partial') } : null,
  };
}

/** Each context field's width in its descriptor: a saved value must fit it, as one parsed from a descriptor does. */
const CONTEXT_FIELD_BITS: Record<keyof TxContext, number> = { ipcss: 8, ipcso: 8, ipcse: 16, tucss: 8, tucso: 8, tucse: 16, paylen: 20, tucmd: 8, hdrlen: 8, mss: 16 };

function decodeContext(saved: unknown): TxContext {
  if (saved === undefined) return EMPTY_CONTEXT;
  if (typeof saved !== 'object' || saved === null) throw stateError('tx.context is not an object');
  const context = { ...EMPTY_CONTEXT };
  for (const [field, bits] of Object.entries(CONTEXT_FIELD_BITS) as [keyof TxContext, number][]) {
    const given = (saved as Partial<Record<keyof TxContext, unknown>>)[field];
    const value = given === undefined ? 0 : given;
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) >= 2 ** bits) throw stateError(`tx.context.${field} is not a ${bits}-bit value`);
    context[field] = value as number;
  }
  return context;
}

export const TX_INTERRUPT = ICR_TXDW;
