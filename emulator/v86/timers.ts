// Wall-clock timers for devices, all tracked so that stopping a VM frees them.
// A callback that throws is reported, never left to reach the event loop (a
// NIC's own timers already run in its FaultDomain, emulator/fault.ts; this is
// the net under anything else).
//
// Once a machine's run loop drives them (`drive`, emulator/v86/tick-loop.ts),
// timers are deadlines the loop fires between two slices of guest execution:
// no Node timer per device timer, and sub-millisecond delays (e1000 ITR and
// delay timers are microseconds) are honoured instead of rounded up to Node's
// 1 ms. Before that (unit tests, a machine still loading) each is a Node timer.
import { performance } from 'node:perf_hooks';
import type { TimerHandle, Timers } from '../platform.ts';

export type TimerErrorSink = (error: unknown) => void;

/** What drives the timers: told when a new deadline is earlier than any before it. */
export interface TimerLoop {
  wake(due: number): void;
}

interface Entry {
  due: number;
  callback: () => void;
  /** Set while no loop drives the timers. */
  node: NodeJS.Timeout | undefined;
}

export class TrackedTimers implements Timers {
  private nextId = 1;
  private readonly live = new Map<number, Entry>();
  private stopped = false;
  private loop: TimerLoop | null = null;

  constructor(private readonly onError: TimerErrorSink = (error) => console.error('vmswitch: a device timer threw:', error)) {}

  now(): number {
    return performance.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    if (this.stopped) return { id };
    const delay = Math.max(0, ms);
    const entry: Entry = { due: this.now() + delay, callback, node: undefined };
    this.live.set(id, entry);
    if (this.loop) this.loop.wake(entry.due);
    else entry.node = setTimeout(() => this.fire(id, entry), delay);
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    const entry = this.live.get(handle.id);
    if (!entry) return;
    if (entry.node) clearTimeout(entry.node);
    this.live.delete(handle.id);
  }

  get pendingCount(): number {
    return this.live.size;
  }

  /** From now on `loop` fires the timers (through `runDue`); pending Node timers move over. */
  drive(loop: TimerLoop): void {
    this.loop = loop;
    for (const entry of this.live.values()) {
      if (entry.node) clearTimeout(entry.node);
      entry.node = undefined;
    }
    const due = this.nextDue();
    if (due !== Infinity) loop.wake(due);
  }

  /** The earliest deadline (performance.now() ms), Infinity when none. */
  nextDue(): number {
    let due = Infinity;
    for (const entry of this.live.values()) if (entry.due < due) due = entry.due;
    return due;
  }

  /** Fires every timer due by `now` (those a callback arms run on a later call). */
  runDue(now: number): void {
    let due: [number, Entry][] | undefined;
    for (const pair of this.live) if (pair[1].due <= now) (due ??= []).push(pair);
    if (!due) return;
    due.sort((a, b) => a[1].due - b[1].due);
    // A callback may clear a later one: only fire those still live.
    for (const [id, entry] of due) if (this.live.get(id) === entry) this.fire(id, entry);
  }

  /** Clears every pending timer; later setTimeout calls do nothing. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.live.values()) if (entry.node) clearTimeout(entry.node);
    this.live.clear();
  }

  private fire(id: number, entry: Entry): void {
    this.live.delete(id);
    try {
      entry.callback();
    } catch (error) {
      this.onError(error);
    }
  }
}
