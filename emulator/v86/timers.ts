// Wall-clock timers for devices, all tracked so that stopping a VM frees them.
// A callback that throws is reported, never left to reach the event loop (a
// NIC's own timers already run in its FaultDomain, emulator/fault.ts; this is
// the net under anything else).
import { performance } from 'node:perf_hooks';
import type { TimerHandle, Timers } from '../platform.ts';

export type TimerErrorSink = (error: unknown) => void;

export class TrackedTimers implements Timers {
  private nextId = 1;
  private readonly live = new Map<number, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly onError: TimerErrorSink = (error) => console.error('vmswitch: a device timer threw:', error)) {}

  now(): number {
    return performance.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    if (this.stopped) return { id };
    const timer = setTimeout(() => {
      this.live.delete(id);
      try {
        callback();
      } catch (error) {
        this.onError(error);
      }
    }, Math.max(0, ms));
    this.live.set(id, timer);
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = this.live.get(handle.id);
    if (timer) {
      clearTimeout(timer);
      this.live.delete(handle.id);
    }
  }

  get pendingCount(): number {
    return this.live.size;
  }

  /** Clears every pending timer; later setTimeout calls do nothing. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.live.values()) clearTimeout(timer);
    this.live.clear();
  }
}
