// Schedules v86's run loop in Node, and fires our device timers from it.
//
// v86's own Node scheduler answers "nothing to do for t ms" with setImmediate
// when t < 1 and setTimeout(t) otherwise. Node's setTimeout counts whole
// milliseconds, so a guest timer tick that is 1.6 ms away fires a little early,
// the halted guest reports 0.6 ms left, and v86 spins on setImmediate until the
// deadline: measured 67,000 wake-ups a second and a quarter of a core for one
// idle VM whose kernel ticks 250 times a second. Here a halted guest's wait is
// always a timer of at least 1 ms: its next timer interrupt may come up to
// about 1 ms late (its clock does not drift: v86 reads the host's), and an IRQ
// our devices raise still wakes it at once (v86's next_tick(0)).
//
// Device timers (TrackedTimers) are deadlines here, fired between two slices:
// a device deadline under 1 ms away (e1000 interrupt moderation, virtio's held
// interrupt) is waited for on setImmediate, only while such a timer is armed.
import { performance } from 'node:perf_hooks';
import type { V86Main } from './internals.ts';
import type { TrackedTimers } from './timers.ts';

// The page's VM workers have no clearImmediate (the e2e page failed with a ReferenceError): a zero timeout stands in there.
const hasImmediate = typeof setImmediate === 'function' && typeof clearImmediate === 'function';
const runSoon = (fn: (tick: number) => void, tick: number): unknown => (hasImmediate ? setImmediate(fn, tick) : setTimeout(fn, 0, tick));
const cancelSoon = (handle: unknown): void => (hasImmediate ? clearImmediate(handle as NodeJS.Immediate) : clearTimeout(handle as ReturnType<typeof setTimeout>));

export class TickLoop {
  /** When v86 wants to run again (its own timers), performance.now() ms. */
  private v86Due = 0;
  /** When the pending callback runs (Infinity: none pending). */
  private scheduledDue = Infinity;
  private immediate: unknown;
  private timeout: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly main: V86Main, private readonly timers: TrackedTimers) {
    main.yield = (t, tick) => {
      this.v86Due = performance.now() + Math.max(0, t);
      this.schedule(tick);
    };
    timers.drive({
      wake: (due) => {
        // Inside a slice (not idle) the slice's own next_tick will look at the new deadline; before run() the first one will.
        if (this.main.running && this.main.idle && due < this.scheduledDue) this.schedule(++this.main.tick_counter);
      },
    });
  }

  /** After the emulator stopped: no more callbacks. */
  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  private schedule(tick: number): void {
    this.cancel();
    if (this.stopped) return;
    const deviceDue = this.timers.nextDue();
    const due = Math.min(this.v86Due, deviceDue);
    const wait = due - performance.now();
    if (wait <= 0 || (deviceDue <= this.v86Due && wait < 1)) {
      this.scheduledDue = -Infinity;
      this.immediate = runSoon(this.run, tick);
    } else {
      this.scheduledDue = due;
      this.timeout = setTimeout(this.run, Math.max(1, Math.ceil(wait)), tick);
    }
  }

  private readonly run = (tick: number): void => {
    this.immediate = undefined;
    this.timeout = undefined;
    this.scheduledDue = Infinity;
    const now = performance.now();
    this.timers.runDue(now);
    // An IRQ a device timer raised wakes v86 by itself (next_tick(0), once the raise is delivered).
    if (tick !== this.main.tick_counter) return;
    if (now >= this.v86Due) this.main.yield_callback(tick);
    else this.schedule(tick);
  };

  private cancel(): void {
    if (this.immediate) cancelSoon(this.immediate);
    if (this.timeout) clearTimeout(this.timeout);
    this.immediate = undefined;
    this.timeout = undefined;
    this.scheduledDue = Infinity;
  }
}
