// ICR/ICS/IMS/IMC and the INTx line, with the 82540's moderation: ITR spaces
// line assertions at least ITR x 256 ns apart, and the delay timers
// (RDTR/RADV for receive, TIDV/TADV for transmit) hold back a cause so a
// burst of packets costs one interrupt. The line is always exactly
// "ICR & IMS != 0" or lower (while throttled): never raised with nothing
// pending, since Linux disables an IRQ that fires for nobody.
import type { IrqLine, TimerHandle, Timers, TraceSink } from '../../platform.ts';
import { ICR_VALID } from './registers.ts';

const ITR_UNIT_MS = 256e-6;
/** RDTR, RADV, TIDV, TADV count 1.024 µs units. */
const DELAY_UNIT_MS = 1.024e-3;

export interface InterruptState {
  icr: number;
  ims: number;
  itr: number;
  /** Pending throttled assertion / delayed causes (re-armed on restore). */
  throttled: boolean;
  delayed: number;
}

export class Interrupts {
  icr = 0;
  ims = 0;
  /** The ITR register itself (256 ns units; 0 = no throttling): MMIO reads and writes it here, and it is saved with this state. */
  itr = 0;
  /** Line assertions (rising edges) so far, for the benchmark's interrupts-per-packet. */
  assertions = 0;
  private lastAssertAt = -Infinity;
  private throttleTimer: TimerHandle | null = null;

  constructor(
    private readonly irq: IrqLine,
    private readonly timers: Timers,
    private readonly trace?: TraceSink,
  ) {}

  raise(causes: number): void {
    causes &= ICR_VALID;
    if (!causes) return;
    this.icr |= causes;
    this.update();
  }

  /** ICR read: returns the causes and clears them (the driver's acknowledge). */
  readAndClear(): number {
    const value = this.icr;
    this.icr = 0;
    this.update();
    return value;
  }

  /** ICR write: write-1-to-clear. */
  clear(causes: number): void {
    this.icr &= ~causes;
    this.update();
  }

  setMask(bits: number): void {
    this.ims |= bits & ICR_VALID;
    this.update();
  }

  clearMask(bits: number): void {
    this.ims &= ~bits;
    this.update();
  }

  /** Re-evaluates the line after any change (an IMS write with causes pending raises it). */
  update(): void {
    if ((this.icr & this.ims) === 0) {
      this.cancelThrottle();
      this.lowerLine();
      return;
    }
    if (this.irq.level || this.throttleTimer) return;
    const wait = this.lastAssertAt + this.itr * ITR_UNIT_MS - this.timers.now();
    if (this.itr > 0 && wait > 0) {
      this.throttleTimer = this.timers.setTimeout(() => {
        this.throttleTimer = null;
        this.lastAssertAt = -Infinity;
        this.update();
      }, wait);
      return;
    }
    // The platform delivers the raise once the register access has returned (see IrqLine in emulator/v86/pci.ts).
    this.assertions++;
    this.lastAssertAt = this.timers.now();
    if (this.trace) this.trace('e1000', 'irq.raise', { icr: this.icr, ims: this.ims });
    this.irq.set(true);
  }

  private lowerLine(): void {
    if (this.trace && this.irq.level) this.trace('e1000', 'irq.lower', { icr: this.icr, ims: this.ims });
    this.irq.set(false);
  }

  private cancelThrottle(): void {
    if (this.throttleTimer) {
      this.timers.clearTimeout(this.throttleTimer);
      this.throttleTimer = null;
    }
  }

  reset(): void {
    this.cancelThrottle();
    this.icr = 0;
    this.ims = 0;
    this.itr = 0;
    this.lastAssertAt = -Infinity;
    this.lowerLine();
  }

  destroy(): void {
    this.cancelThrottle();
  }

  save(): InterruptState {
    return { icr: this.icr, ims: this.ims, itr: this.itr, throttled: this.throttleTimer !== null, delayed: 0 };
  }

  restore(state: InterruptState): void {
    this.cancelThrottle();
    this.icr = state.icr >>> 0;
    this.ims = state.ims >>> 0;
    this.itr = state.itr & 0xffff;
    this.lastAssertAt = -Infinity;
    // v86 restores the line as it was; re-evaluate from the registers so it matches.
    this.lowerLine();
    this.update();
  }
}

/**
 * One delayed cause (RXT0 with RDTR/RADV, TXDW with TIDV/TADV): each packet
 * restarts the short timer; the absolute timer, started by the first packet,
 * bounds the total delay. Either firing raises the cause once.
 */
export class DelayedCause {
  private packetTimer: TimerHandle | null = null;
  private absoluteTimer: TimerHandle | null = null;

  constructor(private readonly interrupts: Interrupts, private readonly timers: Timers, private readonly cause: number) {}

  get pending(): boolean {
    return this.packetTimer !== null || this.absoluteTimer !== null;
  }

  /** A packet completed: raise now (delay 0) or (re)arm the timers. */
  packet(delayUnits: number, absoluteUnits: number): void {
    if (delayUnits === 0) {
      this.fire();
      return;
    }
    if (this.packetTimer) this.timers.clearTimeout(this.packetTimer);
    this.packetTimer = this.timers.setTimeout(() => this.fire(), delayUnits * DELAY_UNIT_MS);
    if (absoluteUnits > 0 && !this.absoluteTimer) {
      this.absoluteTimer = this.timers.setTimeout(() => this.fire(), absoluteUnits * DELAY_UNIT_MS);
    }
  }

  fire(): void {
    this.cancel();
    this.interrupts.raise(this.cause);
  }

  cancel(): void {
    if (this.packetTimer) this.timers.clearTimeout(this.packetTimer);
    if (this.absoluteTimer) this.timers.clearTimeout(this.absoluteTimer);
    this.packetTimer = null;
    this.absoluteTimer = null;
  }
}
