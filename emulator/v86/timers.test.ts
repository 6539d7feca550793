import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TrackedTimers } from './timers.ts';

test('a device timer callback that throws is reported, not left to end the process', async () => {
  const errors: unknown[] = [];
  const timers = new TrackedTimers((error) => errors.push(error));
  let after = 0;
  timers.setTimeout(() => {
    throw new RangeError('timer bug');
  }, 0);
  timers.setTimeout(() => after++, 1);
  // Before the fix the first callback's exception was uncaught and the test process died.
  await sleep(20);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RangeError);
  assert.equal(after, 1, 'later timers still run');
  assert.equal(timers.pendingCount, 0);
});

test('driven by a loop, timers are deadlines: the loop hears of earlier ones and fires them in order', () => {
  const timers = new TrackedTimers();
  const wakes: number[] = [];
  const fired: string[] = [];
  const early = timers.setTimeout(() => fired.push('before drive'), 60_000);
  timers.drive({ wake: (due) => wakes.push(due) });
  assert.equal(wakes.length, 1, 'a pending timer is handed to the loop');
  const start = timers.now();
  timers.setTimeout(() => fired.push('b'), 0.2);
  timers.setTimeout(() => fired.push('a'), 0.1);
  const dropped = timers.setTimeout(() => fired.push('cleared'), 0.05);
  timers.clearTimeout(dropped);
  assert.ok(timers.nextDue() >= start + 0.1 && timers.nextDue() < start + 1, 'sub-millisecond deadlines are kept, not rounded to 1 ms');
  timers.runDue(start);
  assert.deepEqual(fired, [], 'nothing is due yet');
  timers.runDue(start + 1);
  assert.deepEqual(fired, ['a', 'b']);
  timers.clearTimeout(early);
  assert.equal(timers.pendingCount, 0);
  assert.equal(timers.nextDue(), Infinity);
});
