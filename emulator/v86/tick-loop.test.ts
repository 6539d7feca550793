import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V86Main } from './internals.ts';
import { TickLoop } from './tick-loop.ts';
import { TrackedTimers } from './timers.ts';

/** v86's run loop as src/main.js has it: do_tick runs a slice, next_tick yields for t ms. */
class FakeMain implements V86Main {
  running = true;
  idle = true;
  tick_counter = 0;
  slices = 0;
  /** What each slice answers (ms until the halted guest's next timer). */
  wait = 0.6;
  yield(_t: number, _tick: number): void {
    throw new Error('replaced by TickLoop');
  }
  yield_callback(tick: number): void {
    if (tick !== this.tick_counter) return;
    this.idle = false;
    this.slices++;
    this.next_tick(this.wait);
  }
  next_tick(t: number): void {
    this.idle = true;
    this.yield(t, ++this.tick_counter);
  }
}

test('a halted guest with under 1 ms to wait sleeps on a timer instead of spinning on setImmediate', async () => {
  const main = new FakeMain();
  const loop = new TickLoop(main, new TrackedTimers());
  main.next_tick(0);
  await sleep(200);
  loop.stop();
  // v86's own scheduler re-ran the slice on setImmediate for every t < 1: thousands in 200 ms (a loaded machine may run few).
  assert.ok(main.slices >= 2 && main.slices < 300, `slices in 200 ms: ${main.slices}`);
});

test('a device timer armed while the guest sleeps fires by its deadline without running a guest slice early', async () => {
  const main = new FakeMain();
  main.wait = 10_000;
  const timers = new TrackedTimers();
  const loop = new TickLoop(main, timers);
  main.next_tick(0);
  await sleep(5);
  const slicesBefore = main.slices;
  let firedAt = 0;
  const armedAt = timers.now();
  timers.setTimeout(() => (firedAt = timers.now()), 0.3);
  // Poll rather than sleep a fixed time: a loaded machine delays any timer; what
  // matters is that it fires long before v86's own 10 s wake-up.
  for (let waited = 0; firedAt === 0 && waited < 5000; waited += 5) await sleep(5);
  loop.stop();
  assert.ok(firedAt > 0, 'the device timer fired although v86 wanted to sleep 10 s');
  assert.ok(firedAt - armedAt < 5000, `fired after ${firedAt - armedAt} ms`);
  assert.equal(main.slices, slicesBefore, 'the halted guest is not run before its own deadline (an IRQ the timer raises wakes it)');
});

test('before run() a device timer does not start the loop', async () => {
  const main = new FakeMain();
  main.running = false;
  const timers = new TrackedTimers();
  const loop = new TickLoop(main, timers);
  timers.setTimeout(() => {}, 0);
  await sleep(10);
  loop.stop();
  assert.equal(main.slices, 0);
});
