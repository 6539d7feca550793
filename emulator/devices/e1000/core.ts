// What the transmit and receive engines need from the device around them.
import type { Frame } from '../../net/frame.ts';
import type { NicCounters } from '../../net/nic.ts';
import type { GuestErrorReason, RxDropReason } from '../../net/drop-reasons.ts';
import type { GuestMemory, TraceSink } from '../../platform.ts';
import type { Interrupts, DelayedCause } from './interrupts.ts';

export interface E1000Core {
  readonly counters: NicCounters;
  readonly memory: GuestMemory;
  /** PCI bus mastering on (DMA allowed). */
  readonly busMaster: boolean;
  readonly interrupts: Interrupts;
  readonly rxDelay: DelayedCause;
  readonly txDelay: DelayedCause;
  /** Set only when tracing was asked for: test it before building an event. */
  readonly trace: TraceSink | undefined;
  /** Raw register value at a BAR0 offset (no side effects). */
  reg(offset: number): number;
  setReg(offset: number, value: number): void;
  /** Adds to a 32-bit statistic (saturating). */
  stat(offset: number, amount?: number): void;
  /** Adds to a 64-bit statistic pair (low register offset). */
  stat64(lowOffset: number, amount: number): void;
  /** Counts a guest programming error the device survived. */
  guestError(reason: GuestErrorReason): void;
  /** Counts a frame dropped on its way to the guest. */
  rxDropped(reason: RxDropReason): void;
  /** A finished transmit frame: to the wire, or back to our own receiver in loopback. */
  transmit(frame: Frame): void;
  /** Ask to be called again soon: a doorbell's work was cut off at its budget. */
  scheduleTxContinuation(): void;
}

/** Guest addresses are two 32-bit words; anything at or above 2^32 is outside RAM. */
export function address64(low: number, high: number): number {
  return (high >>> 0) * 0x100000000 + (low >>> 0);
}
