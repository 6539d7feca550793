// Receive: filters a frame (RA exact match, MTA hash, broadcast, promiscuous,
// VLAN filter), strips the VLAN tag, computes the checksum status, and writes
// it into as many ring buffers as it needs (jumbo frames span descriptors),
// reporting length + 4 (the FCS) unless SECRC. With no free descriptors the
// frame waits in a small bounded queue (RXO, RNBC) and goes in on the next
// RDT write; past the bound it is dropped (MPC).
import type { Frame } from '../../net/frame.ts';
import { ETH_HEADER_LENGTH } from '../../net/frame.ts';
import { GUEST_ERROR_REASONS, RX_DROP_REASONS, type GuestErrorReason } from '../../net/drop-reasons.ts';
import { encodeBase64 } from '../../encoding.ts';
import { DmaError } from '../../platform.ts';
import { address64, type E1000Core } from './core.ts';
import { RXD_STAT_DD, RXD_STAT_EOP, RXD_STAT_VP, receiveChecksumStatus } from './offloads.ts';
import {
  CTRL_VME,
  ICR_RXDMT0,
  ICR_RXO,
  RAH_AV,
  RA_ENTRIES,
  RCTL_BAM,
  RCTL_EN,
  RCTL_LPE,
  RCTL_MO_SHIFT,
  RCTL_MPE,
  RCTL_RDMTS_SHIFT,
  RCTL_SECRC,
  RCTL_UPE,
  RCTL_VFE,
  REG,
  RXCSUM_IPOFL,
  RXCSUM_TUOFL,
  STAT,
  receiveBufferSize,
} from './registers.ts';
import { decodeSavedBytes, stateError } from './state.ts';

/**
 * Frames held while the ring is full. A 64 KiB TSO send reaches us as ~45
 * segments in one batch, a wire batch can hold several, and each drop costs
 * the guest a TCP retransmission timeout, so the bound is generous (but a
 * bound: at most 512 x 16 KiB).
 */
export const RX_QUEUE_LIMIT = 512;
/** Largest frame (without FCS) taken without LPE: 1514 + a VLAN tag. */
export const MAX_FRAME_NO_LPE = 1518;
/** Largest frame (without FCS) taken with LPE. */
export const MAX_FRAME_LPE = 16380;
/**
 * Shortest frame whose VLAN tag can be interpreted: MAC addresses, TPID, TCI
 * and the inner ethertype. Stripped, it leaves a bare 14-byte header (no
 * payload), which the guest gets as is: a real 82540 never sees such a frame
 * (senders pad to 64 bytes on the wire and it drops undersize frames, RUC),
 * but the switch carries unpadded frames from virtio guests, so this model
 * takes anything from an Ethernet header up and keeps only that promise.
 */
const TAGGED_HEADER_LENGTH = ETH_HEADER_LENGTH + 4;
const MTA_SHIFTS = [4, 3, 2, 0] as const;
const FCS = new Uint8Array(4);

interface PendingFrame {
  data: Uint8Array;
  status: number;
  errors: number;
  special: number;
}

export interface RxState {
  halted: boolean;
  pending: { data: string; status: number; errors: number; special: number }[];
}

export class RxEngine {
  /** Set after a guest error; cleared when the driver rewrites the ring registers or resets. */
  halted = false;
  private pending: PendingFrame[] = [];

  constructor(private readonly core: E1000Core) {}

  reset(): void {
    this.halted = false;
    // Every frame handed to the receiver ends in the ring or in a drop counter.
    for (let i = 0; i < this.pending.length; i++) this.core.rxDropped(RX_DROP_REASONS.reset);
    this.pending = [];
  }

  get queued(): number {
    return this.pending.length;
  }

  /** Frames arriving from the wire (or our own transmitter in loopback). Offloads must be resolved. */
  receive(frames: readonly Frame[]): void {
    const core = this.core;
    const rctl = core.reg(REG.RCTL);
    if (!(rctl & RCTL_EN)) {
      for (let i = 0; i < frames.length; i++) core.rxDropped(RX_DROP_REASONS.receiverDisabled);
      return;
    }
    let queuedAny = false;
    for (const frame of frames) {
      const entry = this.accept(frame, rctl);
      if (!entry) continue;
      // Make room by filling the ring before counting the queue as full.
      if (this.pending.length >= RX_QUEUE_LIMIT && queuedAny) {
        this.drain();
        queuedAny = false;
      }
      if (this.pending.length >= RX_QUEUE_LIMIT) {
        core.stat(STAT.MPC);
        core.rxDropped(RX_DROP_REASONS.ringFull);
        core.interrupts.raise(ICR_RXO);
        continue;
      }
      this.pending.push(entry);
      queuedAny = true;
    }
    if (queuedAny) this.drain();
  }

  private accept(frame: Frame, rctl: number): PendingFrame | null {
    const core = this.core;
    let data = frame.data;
    if (data.length < ETH_HEADER_LENGTH) {
      core.stat(STAT.RUC);
      core.rxDropped(RX_DROP_REASONS.runt);
      return null;
    }
    if (data.length > (rctl & RCTL_LPE ? MAX_FRAME_LPE : MAX_FRAME_NO_LPE)) {
      core.stat(STAT.ROC);
      core.rxDropped(RX_DROP_REASONS.oversize);
      return null;
    }
    if (!this.addressMatches(data, rctl)) {
      core.rxDropped(RX_DROP_REASONS.filtered);
      return null;
    }
    let special = 0;
    let status = 0;
    const vet = core.reg(REG.VET) & 0xffff;
    const stripping = (core.reg(REG.CTRL) & CTRL_VME) !== 0;
    if (((data[12]! << 8) | data[13]!) === vet && (stripping || rctl & RCTL_VFE)) {
      // The tag is read (filter) or cut out (strip): it and the inner ethertype must be in the frame.
      if (data.length < TAGGED_HEADER_LENGTH) {
        core.stat(STAT.RUC);
        core.rxDropped(RX_DROP_REASONS.malformedVlanTag);
        return null;
      }
      const tci = (data[14]! << 8) | data[15]!;
      if (rctl & RCTL_VFE) {
        const vid = tci & 0xfff;
        if (!((core.reg(REG.VFTA + 4 * (vid >>> 5)) >>> (vid & 31)) & 1)) {
          core.rxDropped(RX_DROP_REASONS.vlanFiltered);
          return null;
        }
      }
      if (stripping) {
        const stripped = new Uint8Array(data.length - 4);
        stripped.set(data.subarray(0, 12));
        stripped.set(data.subarray(16), 12);
        data = stripped;
        special = tci;
        status |= RXD_STAT_VP;
      }
    }
    const rxcsum = core.reg(REG.RXCSUM);
    const csum = receiveChecksumStatus(data === frame.data ? frame : { data, csumVerified: frame.csumVerified }, (rxcsum & RXCSUM_IPOFL) !== 0, (rxcsum & RXCSUM_TUOFL) !== 0);
    return { data, status: status | csum.status, errors: csum.errors, special };
  }

  private addressMatches(data: Uint8Array, rctl: number): boolean {
    const core = this.core;
    const multicast = (data[0]! & 1) !== 0;
    const broadcast = multicast && data[0] === 0xff && data[1] === 0xff && data[2] === 0xff && data[3] === 0xff && data[4] === 0xff && data[5] === 0xff;
    if (!multicast && rctl & RCTL_UPE) return true;
    if (multicast && rctl & RCTL_MPE) return true;
    if (broadcast && rctl & RCTL_BAM) return true;
    const low = (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
    const high = data[4]! | (data[5]! << 8);
    for (let i = 0; i < RA_ENTRIES; i++) {
      const rah = core.reg(REG.RA + 8 * i + 4);
      if (rah & RAH_AV && (rah & 0xffff) === high && core.reg(REG.RA + 8 * i) === low) return true;
    }
    if (!multicast) return false;
    const hash = (((data[5]! << 8) | data[4]!) >>> MTA_SHIFTS[(rctl >>> RCTL_MO_SHIFT) & 3]!) & 0xfff;
    return ((core.reg(REG.MTA + 4 * (hash >>> 5)) >>> (hash & 31)) & 1) === 1;
  }

  /** Moves queued frames into the ring while descriptors last (also on RDT writes). */
  drain(): void {
    const core = this.core;
    if (!this.pending.length) return;
    const startHead = core.reg(REG.RDH);
    let delivered = 0;
    while (this.pending.length) {
      const result = this.deliver(this.pending[0]!);
      if (result === 'full') {
        core.stat(STAT.RNBC);
        core.interrupts.raise(ICR_RXO);
        break;
      }
      this.pending.shift();
      if (result === 'delivered') delivered++;
    }
    if (core.trace) core.trace('e1000', 'rx.ring', { head: startHead, tail: core.reg(REG.RDT), frames: delivered, headAfter: core.reg(REG.RDH), queued: this.pending.length });
    if (delivered) {
      core.rxDelay.packet(core.reg(REG.RDTR) & 0xffff, core.reg(REG.RADV) & 0xffff);
      const count = core.reg(REG.RDLEN) >>> 4;
      const free = (core.reg(REG.RDT) - core.reg(REG.RDH) + count) % count;
      const threshold = count >>> (1 + ((core.reg(REG.RCTL) >>> RCTL_RDMTS_SHIFT) & 3));
      if (free <= threshold) core.interrupts.raise(ICR_RXDMT0);
    }
  }

  private deliver(frame: PendingFrame): 'delivered' | 'full' | 'dropped' {
    const core = this.core;
    if (this.halted || !core.busMaster) return 'full';
    const count = core.reg(REG.RDLEN) >>> 4;
    let head = core.reg(REG.RDH);
    const tail = core.reg(REG.RDT);
    if (count === 0) return 'full';
    if (head >= count || tail >= count) {
      this.fail(GUEST_ERROR_REASONS.rxRingIndexOutOfRange);
      return 'full';
    }
    const rctl = core.reg(REG.RCTL);
    const bufferSize = receiveBufferSize(rctl);
    const data = frame.data;
    const total = data.length + (rctl & RCTL_SECRC ? 0 : 4);
    const needed = Math.ceil(total / bufferSize);
    const free = (tail - head + count) % count;
    if (free < needed) return 'full';
    const base = address64(core.reg(REG.RDBAL), core.reg(REG.RDBAH));
    const memory = core.memory;
    try {
      let offset = 0;
      for (let i = 0; i < needed; i++) {
        const at = base + head * 16;
        const buffer = address64(memory.readU32(at), memory.readU32(at + 4));
        const chunk = Math.min(bufferSize, total - offset);
        const chunkEnd = offset + chunk;
        if (offset < data.length) memory.write(buffer, data.subarray(offset, Math.min(chunkEnd, data.length)));
        if (chunkEnd > data.length) {
          // The FCS bytes (zeros, not a real CRC: Linux trims them unread).
          const fcsStart = Math.max(offset, data.length);
          memory.write(buffer + (fcsStart - offset), FCS.subarray(0, chunkEnd - fcsStart));
        }
        const last = i === needed - 1;
        memory.writeU32(at + 8, chunk);
        const status = RXD_STAT_DD | (last ? RXD_STAT_EOP | frame.status : frame.status & RXD_STAT_VP);
        memory.writeU32(at + 12, (status | ((last ? frame.errors : 0) << 8) | (frame.special << 16)) >>> 0);
        head = head + 1 === count ? 0 : head + 1;
        offset += chunk;
      }
    } catch (error) {
      if (!(error instanceof DmaError)) throw error;
      core.setReg(REG.RDH, head);
      this.fail(GUEST_ERROR_REASONS.rxDmaOutsideRam);
      core.rxDropped(RX_DROP_REASONS.deviceError);
      return 'dropped';
    }
    core.setReg(REG.RDH, head);
    core.counters.rxFrames++;
    core.counters.rxBytes += data.length;
    core.stat(STAT.GPRC);
    core.stat(STAT.TPR);
    core.stat64(STAT.GORCL, total);
    core.stat64(STAT.TORL, total);
    if (data[0]! & 1) core.stat(data[0] === 0xff && data[1] === 0xff ? STAT.BPRC : STAT.MPRC);
    return 'delivered';
  }

  private fail(reason: GuestErrorReason): void {
    this.core.guestError(reason);
    this.halted = true;
  }

  save(): RxState {
    return {
      halted: this.halted,
      pending: this.pending.map((p) => ({ data: encodeBase64(p.data), status: p.status, errors: p.errors, special: p.special })),
    };
  }

  /** Applies a state decodeRxState accepted. */
  restore(state: RxRestore): void {
    this.halted = state.halted;
    this.pending = state.pending;
  }
}

/** Saved receive state, checked and decoded: applying it cannot fail. */
export interface RxRestore {
  halted: boolean;
  pending: PendingFrame[];
}

export function decodeRxState(state: RxState): RxRestore {
  const saved: unknown = state.pending ?? [];
  if (!Array.isArray(saved)) throw stateError('rx.pending is not a list');
  const pending = (saved as RxState['pending']).slice(0, RX_QUEUE_LIMIT).map((p, i) => {
    if (typeof p !== 'object' || p === null) throw stateError(`rx.pending[${i}] is not an object`);
    const data = decodeSavedBytes(p.data, `rx.pending[${i}]`);
    // Only what accept() lets through is ever queued: a file cannot hand the guest anything else.
    if (data.length < ETH_HEADER_LENGTH || data.length > MAX_FRAME_LPE) throw stateError(`rx.pending[${i}] is ${data.length} bytes, not a frame`);
    return {
      data,
      status: p.status & 0xff,
      errors: p.errors & 0xff,
      special: p.special & 0xffff,
    };
  });
  return { halted: !!state.halted, pending };
}
