import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableGroups, formatTable, mergeResults } from './bench.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

test('groups are the bench/ modules, boot among them, types.ts not', () => {
  const groups = availableGroups();
  assert.ok(groups.includes('boot'));
  assert.ok(!groups.includes('types'));
});

test('fresh entries replace same-named ones and keep the rest; junk in the old file is dropped', () => {
  const previous = [{ name: 'boot.cold.ms', value: 1, unit: 'ms' }, { name: 'switch.mpps', value: 2, unit: 'Mpps' }, 'junk', null];
  const merged = mergeResults(previous, [{ name: 'boot.cold.ms', value: 3, unit: 'ms' }]);
  assert.deepEqual(merged, [{ name: 'switch.mpps', value: 2, unit: 'Mpps' }, { name: 'boot.cold.ms', value: 3, unit: 'ms' }]);
  assert.deepEqual(mergeResults({ not: 'an array' }, []), []);
  const twice = mergeResults([], [
    { name: 'v86virtio.rtt.ms', value: 1, unit: 'ms' },
    { name: 'e1000.rtt.ms', value: 2, unit: 'ms' },
    { name: 'v86virtio.rtt.ms', value: 3, unit: 'ms' },
  ]);
  assert.deepEqual(twice.map((e) => [e.name, e.value]), [['e1000.rtt.ms', 2], ['v86virtio.rtt.ms', 3]], 'a name measured twice in one run keeps its last figure, once');
});

test('the table shows values, units and ratios against the baseline', () => {
  const table = formatTable([
    { name: 'boot.cold.ms', value: 15000, unit: 'ms' },
    { name: 'boot.snapshot.ms', value: 300, unit: 'ms', baseline: 'boot.cold.ms', ratio: 0.02 },
  ]);
  const lines = table.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[3]!, /^boot\.snapshot\.ms\s+300\s+ms\s+0\.020 x boot\.cold\.ms$/);
});

test('an unknown group is a one-line error with exit status 2', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', 'no-such-group'], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.match(result.stderr, /unknown group 'no-such-group'/);
});
