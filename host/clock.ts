// The switch's timers: one-shot callbacks at a time on the switch's own clock,
// so what an extension delays (impairment.ts) runs on the same time base as
// `Switch.now`. TimerScheduler is the real one (setTimeout, in Node and the
// browser); FakeClock is a clock and scheduler for unit tests that fires due
// timers, in time order, only when the test advances it.

/** A timer's handle (0 is never a handle, so it can mean "none"). */
export type TimerId = number;

export interface Scheduler {
  /** The clock the timers run on, in ms. */
  now(): number;
  /** Calls `fn` once, as soon as `now() >= atMs` (a time in the past: soon, never synchronously). */
  schedule(atMs: number, fn: () => void): TimerId;
  /** Cancels a timer that has not fired (unknown or fired ids are ignored). */
  cancel(id: TimerId): void;
}

/** Timers on setTimeout, against any clock (Date.now by default): the wait is recomputed from that clock. */
export class TimerScheduler implements Scheduler {
  readonly now: () => number;
  private readonly timers = new Map<TimerId, ReturnType<typeof setTimeout>>();
  private nextId = 1;

  constructor(clock: () => number = Date.now) {
    this.now = clock;
  }

  schedule(atMs: number, fn: () => void): TimerId {
    const id = this.nextId++;
    const wait = Math.max(0, atMs - this.now());
    const handle = setTimeout(() => {
      this.timers.delete(id);
      // setTimeout may fire a little early against another clock: wait out the rest.
      if (this.now() < atMs) {
        this.timers.set(id, this.rearm(id, atMs, fn));
        return;
      }
      fn();
    }, wait);
    // A pending impairment timer must not keep a Node process alive on its own.
    (handle as { unref?: () => void }).unref?.();
    this.timers.set(id, handle);
    return id;
  }

  cancel(id: TimerId): void {
    const handle = this.timers.get(id);
    if (handle === undefined) return;
    clearTimeout(handle);
    this.timers.delete(id);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  private rearm(id: TimerId, atMs: number, fn: () => void): ReturnType<typeof setTimeout> {
    const handle = setTimeout(() => {
      this.timers.delete(id);
      if (this.now() < atMs) this.timers.set(id, this.rearm(id, atMs, fn));
      else fn();
    }, Math.max(1, atMs - this.now()));
    (handle as { unref?: () => void }).unref?.();
    return handle;
  }
}

/**
 * A virtual clock and its timers for tests: time moves only by `advance`,
 * which fires every timer due on the way, earliest first (same time: in the
 * order they were scheduled), with `now()` reading the timer's own time while
 * it runs. A timer scheduled for a time already past fires at the next
 * `advance` (also `advance(0)`), never inside `schedule`.
 */
export class FakeClock implements Scheduler {
  /** Min-heap by (at, seq), in parallel arrays: no object per timer. */
  private heapAt: number[] = [];
  private heapSeq: number[] = [];
  private heapId: TimerId[] = [];
  private readonly callbacks = new Map<TimerId, () => void>();
  private nextId = 1;
  private seq = 0;

  constructor(public time = 1_700_000_000_000) {}

  readonly now = (): number => this.time;

  schedule(atMs: number, fn: () => void): TimerId {
    if (Number.isNaN(atMs)) throw new RangeError('schedule: time is NaN');
    const id = this.nextId++;
    this.callbacks.set(id, fn);
    this.push(atMs, this.seq++, id);
    return id;
  }

  cancel(id: TimerId): void {
    // The heap entry stays and is skipped when it comes up.
    this.callbacks.delete(id);
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.callbacks.size;
  }

  /** The earliest pending timer's time, or Infinity. */
  nextAt(): number {
    this.skipCancelled();
    return this.heapAt.length ? this.heapAt[0]! : Infinity;
  }

  /** Moves time forward by `ms`, firing the timers due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance: ${ms} is not a duration`);
    const target = this.time + ms;
    for (;;) {
      this.skipCancelled();
      if (!this.heapAt.length || this.heapAt[0]! > target) break;
      const at = this.heapAt[0]!;
      const id = this.heapId[0]!;
      this.pop();
      const fn = this.callbacks.get(id)!;
      this.callbacks.delete(id);
      if (at > this.time) this.time = at;
      fn();
    }
    this.time = target;
  }

  /** Advances to each pending timer in turn until none is left (bounded: a timer that keeps rescheduling stops it). */
  runAll(maxTimers = 1_000_000): void {
    for (let n = 0; n < maxTimers; n++) {
      const next = this.nextAt();
      if (next === Infinity) return;
      this.advance(Math.max(0, next - this.time));
    }
    throw new Error(`runAll: more than ${maxTimers} timers`);
  }

  private skipCancelled(): void {
    while (this.heapId.length && !this.callbacks.has(this.heapId[0]!)) this.pop();
  }

  private less(a: number, b: number): boolean {
    const at = this.heapAt;
    return at[a]! < at[b]! || (at[a] === at[b] && this.heapSeq[a]! < this.heapSeq[b]!);
  }

  private swap(a: number, b: number): void {
    const at = this.heapAt;
    const seq = this.heapSeq;
    const id = this.heapId;
    const t = at[a]!;
    at[a] = at[b]!;
    at[b] = t;
    const s = seq[a]!;
    seq[a] = seq[b]!;
    seq[b] = s;
    const k = id[a]!;
    id[a] = id[b]!;
    id[b] = k;
  }

  private push(at: number, seq: number, id: TimerId): void {
    let i = this.heapAt.length;
    this.heapAt.push(at);
    this.heapSeq.push(seq);
    this.heapId.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): void {
    const last = this.heapAt.length - 1;
    this.swap(0, last);
    this.heapAt.pop();
    this.heapSeq.pop();
    this.heapId.pop();
    let i = 0;
    const n = this.heapAt.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}
