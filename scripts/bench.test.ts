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

test('ratios against QEMU come only from qemu figures of the same run, named after the figure', async () => {
  const { qemuRatios } = await import('./bench.ts');
  const fresh = [
    { name: 'qemu.e1000-e1000.tcp.mibps', value: 90, unit: 'MiB/s' },
    { name: 'qemu.idle.cpu.pct', value: 5, unit: '% of a core' },
    { name: 'lab.e1000-e1000.tcp.mibps', value: 45, unit: 'MiB/s' },
    { name: 'lab.virtio-virtio.tcp.mibps', value: 60, unit: 'MiB/s' }, // no qemu counterpart this run
    { name: 'idle.cpu.pct', value: 2.5, unit: '% of a core' },
    { name: 'scale.16.idle.cpu.pct', value: 40, unit: '% of a core' },
    { name: 'scale.16.connected.ms', value: 9000, unit: 'ms' },
  ];
  const ratios = qemuRatios(fresh);
  assert.deepEqual(
    ratios.map((e) => [e.name, e.value, e.baseline]),
    [
      ['lab.e1000-e1000.tcp.vs_qemu', 0.5, 'qemu.e1000-e1000.tcp.mibps'],
      ['idle.cpu.vs_qemu', 0.5, 'qemu.idle.cpu.pct'],
      ['scale.16.idle.cpu.vs_qemu', 0.5, '16 x qemu.idle.cpu.pct'],
    ],
  );
  assert.deepEqual(qemuRatios(fresh.filter((e) => !e.name.startsWith('qemu.'))), [], 'no qemu in this run: no ratios');
});

test('--vms N is the scale group\'s size, passed on in the environment', async () => {
  const { parseArgs } = await import('./bench.ts');
  const env: NodeJS.ProcessEnv = {};
  assert.deepEqual(parseArgs(['qemu', '--vms', '4', 'scale'], env), ['qemu', 'scale']);
  assert.equal(env.VMSWITCH_BENCH_VMS, '4');
  assert.deepEqual(parseArgs(['--vms=8'], env), []);
  assert.equal(env.VMSWITCH_BENCH_VMS, '8');
  assert.throws(() => parseArgs(['scale', '--vms'], {}), /--vms needs a number/);
  assert.throws(() => parseArgs(['--vms', 'many'], {}), /--vms needs a number of VMs, not 'many'/);
});
