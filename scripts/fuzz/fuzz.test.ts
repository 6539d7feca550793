// Every fuzz target, seeded and bounded, as part of the unit suite: a broken
// invariant fails `npm test` with the case seed to replay it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { loadTargets } from './discover.ts';
import { Rng, caseSeed, runTarget, type FuzzTarget } from './harness.ts';

const SEED = 0x5eed;

for (const target of await loadTargets()) {
  test(`fuzz ${target.name}: ${target.quick} seeded cases`, async () => {
    const result = await runTarget(target, { seed: SEED, iterations: target.quick, maxFailures: 1 });
    const f = result.failures[0];
    assert.equal(f, undefined, f && `case seed ${f.seed} (iteration ${f.iteration}): ${inspect(f.error, { depth: 3 })}`);
  });
}

test('the harness reports a failing case with the seed that replays it', async () => {
  const seen: number[] = [];
  const target: FuzzTarget = {
    name: 'self-test',
    quick: 50,
    run(rng) {
      const value = rng.u32();
      seen.push(value);
      if (value % 7 === 0) throw new Error(`hit ${value}`);
    },
  };
  const result = await runTarget(target, { seed: 1, iterations: 200, maxFailures: 1 });
  assert.equal(result.failures.length, 1);
  const failure = result.failures[0]!;
  assert.equal(new Rng(failure.seed).u32() % 7, 0, 'the reported seed replays the failing case');
  assert.equal(failure.seed, caseSeed(1, failure.iteration));
  assert.equal(result.iterations, failure.iteration + 1, 'stopped at the first failure');
});

test('Rng: same seed, same sequence; ranges stay in bounds', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 1000; i++) assert.equal(a.u32(), b.u32());
  const r = new Rng(7);
  for (let i = 0; i < 1000; i++) {
    const v = r.range(-3, 3);
    assert.ok(v >= -3 && v <= 3 && Number.isInteger(v));
    const e = r.edgy(16);
    assert.ok(e >= 0 && e <= 0xffff, `edgy(16) gave ${e}`);
  }
});
