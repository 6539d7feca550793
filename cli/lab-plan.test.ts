import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLabArgs, type LabPlan } from './lab-plan.ts';
import { UsageError } from './args.ts';

function plan(args: string): LabPlan {
  const result = parseLabArgs(args.split(' '));
  assert.notEqual(result, 'help');
  return result as LabPlan;
}

function rejects(args: string[], pattern: RegExp): void {
  assert.throws(() => parseLabArgs(args), (error: unknown) => {
    assert.ok(error instanceof UsageError, 'a usage error (exit 2)');
    assert.match(error.message, /^vmswitch lab: /);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    assert.match(error.message, pattern);
    return true;
  });
}

test('VMs get 10.0.0.n/24 in order and keep their NIC models in order', () => {
  const p = plan('--vm a:e1000 --vm b:virtio+e1000 --vm c:virtio');
  assert.deepEqual(
    p.vms.map((vm) => [vm.name, vm.models, vm.ip]),
    [
      ['a', ['e1000'], '10.0.0.1/24'],
      ['b', ['virtio', 'e1000'], '10.0.0.2/24'],
      ['c', ['virtio'], '10.0.0.3/24'],
    ],
  );
});

test('steps keep command-line order, and an exec command keeps its colons and spaces', () => {
  const p = parseLabArgs(['--vm', 'a:e1000', '--vm', 'b:virtio', '--exec', 'a:ping -c 1 b', '--stop', 'b', '--sleep', '250', '--start', 'b', '--exec', 'b:echo x:y']) as LabPlan;
  assert.deepEqual(p.steps, [
    { kind: 'exec', vm: 'a', command: 'ping -c 1 b' },
    { kind: 'stop', vm: 'b' },
    { kind: 'sleep', ms: 250 },
    { kind: 'start', vm: 'b' },
    { kind: 'exec', vm: 'b', command: 'echo x:y' },
  ]);
});

test('options are recorded', () => {
  const p = plan('--vm a:e1000 --oid-log /tmp/o.jsonl --pcap /tmp/s.pcapng --console a --cold');
  assert.equal(p.oidLog, '/tmp/o.jsonl');
  assert.equal(p.pcap, '/tmp/s.pcapng');
  assert.equal(p.console, 'a');
  assert.equal(p.cold, true);
});

test('--help wins', () => {
  assert.equal(parseLabArgs(['--vm', 'a:e1000', '--help']), 'help');
});

test('bad arguments give one-line usage errors', () => {
  rejects([], /at least one --vm/);
  rejects(['--vm', 'a:ne2k'], /unknown NIC model 'ne2k'/);
  rejects(['--vm', 'a:e1000+'], /unknown NIC model ''/);
  rejects(['--vm', 'a'], /NAME:/);
  rejects(['--vm', 'A:e1000'], /VM name 'A'/);
  rejects(['--vm', 'a:e1000', '--vm', 'a:virtio'], /defined twice/);
  rejects(['--vm', 'a:e1000', '--exec', 'b:true'], /names 'b'/);
  rejects(['--vm', 'a:e1000', '--exec', 'a:'], /needs a command/);
  rejects(['--vm', 'a:e1000', '--stop'], /--stop needs a value/);
  rejects(['--vm', 'a:e1000', '--sleep', '-5'], /--sleep takes milliseconds/);
  rejects(['--vm', 'a:e1000', '--bogus'], /unknown option '--bogus'/);
  rejects(['--vm', 'a:e1000', 'stray'], /unexpected argument 'stray'/);
  rejects(Array.from({ length: 9 }, (_, i) => [`--vm`, `v${i}:e1000`]).flat(), /at most 8 VMs/);
});
