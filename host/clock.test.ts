import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, TimerScheduler } from './clock.ts';
import { Switch } from './switch.ts';

test('FakeClock fires due timers in time order (ties in schedule order) with now() at each timer', () => {
  const clock = new FakeClock(1000);
  const fired: [string, number][] = [];
  clock.schedule(1030, () => fired.push(['c', clock.now()]));
  clock.schedule(1010, () => fired.push(['a', clock.now()]));
  clock.schedule(1010, () => fired.push(['b', clock.now()]));
  const cancelled = clock.schedule(1020, () => fired.push(['x', clock.now()]));
  clock.cancel(cancelled);
  clock.advance(9);
  assert.equal(fired.length, 0);
  clock.advance(25);
  assert.deepEqual(fired, [['a', 1010], ['b', 1010], ['c', 1030]]);
  assert.equal(clock.now(), 1034);
  assert.equal(clock.pending, 0);
});

test('FakeClock: a timer scheduled in the past or from a timer fires within the same advance, never synchronously', () => {
  const clock = new FakeClock(0);
  const fired: number[] = [];
  clock.schedule(-5, () => fired.push(clock.now()));
  assert.equal(fired.length, 0, "not inside schedule");
  clock.schedule(10, () => {
    fired.push(clock.now());
    clock.schedule(15, () => fired.push(clock.now()));
    clock.schedule(500, () => fired.push(clock.now()));
  });
  clock.advance(0);
  assert.deepEqual(fired, [0]);
  clock.advance(20);
  assert.deepEqual(fired, [0, 10, 15]);
  assert.equal(clock.nextAt(), 500);
  clock.runAll();
  assert.deepEqual(fired, [0, 10, 15, 500]);
  assert.throws(() => clock.advance(-1), RangeError);
});

test('FakeClock keeps many timers in order (heap)', () => {
  const clock = new FakeClock(0);
  const fired: number[] = [];
  const times = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000);
  for (const t of times) clock.schedule(t, () => fired.push(t));
  clock.advance(1000);
  assert.deepEqual(fired, [...times].sort((a, b) => a - b));
});

test('TimerScheduler runs on setTimeout against its clock, and cancel stops a timer', async () => {
  const timers = new TimerScheduler();
  const fired: string[] = [];
  const start = timers.now();
  timers.schedule(start + 20, () => fired.push('late'));
  timers.schedule(start - 100, () => fired.push('past'));
  const id = timers.schedule(start + 5, () => fired.push('cancelled'));
  timers.cancel(id);
  assert.equal(timers.pending, 2);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(fired, ['past', 'late']);
  assert.equal(timers.pending, 0);
});

test('the switch has timers on its own clock: a FakeClock as timers is the clock too', () => {
  const clock = new FakeClock(5000);
  const sw = new Switch({ timers: clock });
  assert.equal(sw.now(), 5000);
  clock.advance(10);
  assert.equal(sw.now(), 5010);
  assert.equal(sw.timers, clock);
  const real = new Switch();
  assert.ok(real.timers instanceof TimerScheduler);
});
