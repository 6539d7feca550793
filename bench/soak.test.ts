// The soak group's pure parts: the growth figures, the stop-order check and
// the ping summary check (the soak itself needs real guests: npm run bench -- soak).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STOP_ORDER, growthPerCycle, leastSquaresSlope, pingProblem, stopOrderProblem } from './soak.ts';

test('least-squares slope: exact on a line, the fit through noise, refuses too few points', () => {
  assert.equal(leastSquaresSlope([1, 2, 3, 4], [10, 12, 14, 16]), 2);
  assert.equal(leastSquaresSlope([3, 4, 5], [7, 7, 7]), 0);
  // y = 1, 3, 2, 4 over x = 0..3: slope 0.8 by the normal equations.
  assert.ok(Math.abs(leastSquaresSlope([0, 1, 2, 3], [1, 3, 2, 4]) - 0.8) < 1e-12);
  assert.throws(() => leastSquaresSlope([1], [1]), RangeError);
  assert.throws(() => leastSquaresSlope([1, 2], [1]), RangeError);
  assert.throws(() => leastSquaresSlope([2, 2], [1, 5]), RangeError);
});

test('growth per cycle leaves the warm-up out and compares the last quarter with the first', () => {
  // Cycles 1-2 jump (warm-up), then +100 per cycle from cycle 3 to 10.
  const samples = [100, 900, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700];
  const growth = growthPerCycle(samples, 2)!;
  assert.equal(growth.cycles, 8);
  assert.ok(Math.abs(growth.perCycle - 100) < 1e-9, `slope ${growth.perCycle}`);
  assert.equal(growth.firstQuarter, 1050, 'mean of cycles 3-4');
  assert.equal(growth.lastQuarter, 1650, 'mean of cycles 9-10');

  const flat = growthPerCycle([5, 9, 7, 7, 7], 2)!;
  assert.equal(flat.perCycle, 0);
  assert.equal(flat.firstQuarter, 7);
  assert.equal(flat.lastQuarter, 7);

  assert.equal(growthPerCycle([1, 2, 3], 2), undefined, 'one cycle after the warm-up: no slope');
  assert.equal(growthPerCycle([], 2), undefined);
});

test('the stop order: the four OIDs in order, successful, per port', () => {
  const stop = (portId: number) => STOP_ORDER.map((oid) => ({ oid, portId, status: 'success' as const }));
  assert.equal(stopOrderProblem([...stop(3), ...stop(7)], [3, 7]), undefined);
  assert.equal(stopOrderProblem([...stop(3), { oid: 'OID_SWITCH_NIC_UPDATED', portId: 9, status: 'success' }], [3]), undefined, 'other ports do not count');
  const swapped = stop(3);
  [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
  assert.match(stopOrderProblem(swapped, [3])!, /port 3 stopped with OID_SWITCH_NIC_DISCONNECT, OID_SWITCH_PORT_TEARDOWN, OID_SWITCH_NIC_DELETE/);
  const failed = stop(3).map((e) => (e.oid === 'OID_SWITCH_NIC_DELETE' ? { ...e, status: 'failed' as const } : e));
  assert.match(stopOrderProblem(failed, [3])!, /OID_SWITCH_NIC_DELETE:failed/);
  assert.match(stopOrderProblem(stop(3).slice(0, 3), [3])!, /port 3 stopped with .*TEARDOWN \(expected/);
  assert.match(stopOrderProblem(stop(3), [3, 4])!, /port 4 stopped with no OIDs/);
});

test('ping summary: every ping answered or the reason', () => {
  const summary = (sent: number, received: number) => `--- b ping statistics ---\n${sent} packets transmitted, ${received} packets received, ${100 - (received * 100) / sent}% packet loss\n`;
  assert.equal(pingProblem(summary(5, 5), 5), undefined);
  assert.equal(pingProblem(summary(5, 4), 5), '4 of 5 pings answered (5 sent expected)');
  assert.match(pingProblem(summary(3, 3), 5)!, /3 of 3/);
  assert.match(pingProblem('ping: bad address', 5)!, /no ping summary/);
});
