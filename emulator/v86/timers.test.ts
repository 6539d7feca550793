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
