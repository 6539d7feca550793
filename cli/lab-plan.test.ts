import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkStepNames, defaultMaxVms, parseLabArgs, type LabPlan } from './lab-plan.ts';
import { UsageError } from './args.ts';

function plan(args: string): LabPlan {
  const result = parseLabArgs(args.split(' '));
  assert.notEqual(result, 'help');
  return result as LabPlan;
}

function rejects(args: string[], pattern: RegExp, options?: { maxVms?: number }): void {
  assert.throws(() => parseLabArgs(args, options), (error: unknown) => {
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
  rejects([], /--file LAB\.yaml or at least one --vm/);
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
});

test('the --vm cap is what the machine holds at 128 MiB a VM, and no more than 10.0.0.0/24 numbers', () => {
  assert.equal(defaultMaxVms(1024 * 1024 * 1024), 8);
  assert.equal(defaultMaxVms(24 * 1024 * 1024 * 1024), 192);
  assert.equal(defaultMaxVms(1024 * 1024 * 1024 * 1024), 254);
  assert.equal(defaultMaxVms(64 * 1024 * 1024), 1);
  const nine = Array.from({ length: 9 }, (_, i) => [`--vm`, `v${i}:e1000`]).flat();
  rejects(nine, /at most 8 VMs/, { maxVms: 8 });
  assert.equal((parseLabArgs(nine, { maxVms: 9 }) as LabPlan).vms.length, 9);
});

test('--file: steps name VMs of the file (checked once it is read), --impair parses both forms', () => {
  const p = plan('--exec a:true --file lab.yaml --impair a:eth0=delay=50ms,loss=5% --impair wan=rate=1mbit --impair wan=none');
  assert.equal(p.file, 'lab.yaml');
  assert.deepEqual(p.steps[0], { kind: 'exec', vm: 'a', command: 'true' }, 'a step before --file is checked later too');
  assert.deepEqual(p.steps[1], {
    kind: 'impair',
    target: { vm: 'a', nic: 'eth0' },
    impairment: { delayMs: 50, jitterMs: 0, lossPercent: 5, duplicatePercent: 0, reorderPercent: 0, rateBitsPerSecond: 0, limitFrames: 1000, down: false },
  });
  assert.deepEqual(p.steps[2], { kind: 'impair', target: { link: 'wan' }, impairment: { delayMs: 0, jitterMs: 0, lossPercent: 0, duplicatePercent: 0, reorderPercent: 0, rateBitsPerSecond: 1e6, limitFrames: 1000, down: false } });
  assert.deepEqual(p.steps[3], { kind: 'impair', target: { link: 'wan' }, impairment: null });
  const names = { vms: [{ name: 'a', nics: ['eth0'] }, { name: 'b', nics: ['eth0', 'eth1'] }], links: ['wan'] };
  checkStepNames(p, names);
  const bad = (args: string[], pattern: RegExp) =>
    assert.throws(() => checkStepNames(parseLabArgs(args) as LabPlan, names), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.doesNotMatch(error.message, /\n/);
      assert.match(error.message, pattern);
      return true;
    });
  bad(['--file', 'x.yaml', '--exec', 'c:true'], /--exec names 'c', which x\.yaml does not define \(its VMs: a, b\)/);
  bad(['--file', 'x.yaml', '--impair', 'a:eth1=loss=1%'], /VM 'a' has no eth1/);
  bad(['--file', 'x.yaml', '--impair', 'lan=loss=1%'], /link 'lan', which x\.yaml does not define/);
  bad(['--file', 'x.yaml', '--console', 'z'], /--console names 'z'/);
});

test('--file and --impair: bad input gives one-line usage errors', () => {
  rejects(['--file', 'a.yaml', '--vm', 'a:e1000'], /--file and --vm do not mix/);
  rejects(['--file', 'a.yaml', '--file', 'b.yaml'], /--file is given twice/);
  rejects(['--file', 'a.yaml', '--pcap', 'x.pcapng'], /a lab file sets 'capture' per switch/);
  rejects(['--vm', 'a:e1000', '--impair', 'a:eth0=loss=5%'], /--impair needs a lab file/);
  rejects(['--file', 'a.yaml', '--impair', 'a:eth0'], /VM:ethN=SPEC or LINK=SPEC/);
  rejects(['--file', 'a.yaml', '--impair', 'a:eth0=loss=5'], /needs a % sign/);
  rejects(['--file', 'a.yaml', '--impair', 'a:eth0=speed=5'], /unknown impairment 'speed'/);
  rejects(['--file', 'a.yaml', '--impair', 'a:eth0=rate=1mbps'], /means bytes per second/);
  rejects(['--file', 'a.yaml', '--impair', 'a:eth0=jitter=5ms'], /need a delay/);
  rejects(['--file', 'a.yaml', '--impair', 'a:eth0=loss=1%,loss=2%'], /given twice/);
  rejects(['--file', 'a.yaml', '--impair', 'a:wlan0=loss=1%'], /'wlan0' is not a NIC/);
  rejects(['--file', 'a.yaml', '--impair', 'A:eth0=loss=1%'], /'A' is not a VM name/);
});

test('--vm NAME:MODEL@CIDR gives eth0 that address; others keep 10.0.0.n/24', () => {
  const p = plan('--vm a:virtio@10.0.0.11/24 --vm b:e1000+virtio --vm c:virtio+virtio@192.168.5.1/16');
  assert.deepEqual(
    p.vms.map((vm) => [vm.name, vm.models, vm.ip]),
    [
      ['a', ['virtio'], '10.0.0.11/24'],
      ['b', ['e1000', 'virtio'], '10.0.0.2/24'],
      ['c', ['virtio', 'virtio'], '192.168.5.1/16'],
    ],
  );
  rejects(['--vm', 'a:virtio@10.0.0.300/24'], /not an IPv4 address/);
  rejects(['--vm', 'a:virtio@10.0.0.1'], /needs a prefix length/);
  rejects(['--vm', 'a:virtio@10.0.0.1/33'], /prefix length/);
  rejects(['--vm', 'a:virtio@'], /not an IPv4 address/);
});

test('--vxlan, --lab-id and --mtu', () => {
  const p = plan('--vm a:virtio --vxlan 42@14789=127.0.0.1:14790,127.0.0.2:4789 --lab-id side-a --mtu 1400');
  assert.deepEqual(p.vxlan, {
    vni: 42,
    local: { address: '127.0.0.1', port: 14789, family: 4 },
    peers: [
      { address: '127.0.0.1', port: 14790, family: 4 },
      { address: '127.0.0.2', port: 4789, family: 4 },
    ],
  });
  assert.equal(p.labId, 'side-a');
  assert.equal(p.vmMtu, 1400);
  assert.equal(plan('--vm a:virtio --vxlan 1@[::1]:4789=[::1]:4790').vxlan?.local.family, 6);
  rejects(['--vm', 'a:virtio', '--vxlan', '42@4789'], /--vxlan '42@4789': expected VNI@/);
  rejects(['--vm', 'a:virtio', '--vxlan', '99999999@4789=127.0.0.2:4789'], /VNI must be/);
  rejects(['--vm', 'a:virtio', '--vxlan', '1@4789=::1:4789'], /brackets/);
  rejects(['--vm', 'a:virtio', '--vxlan', '1@4789=[::1]:4789'], /IPv6 but the local address/);
  rejects(['--vm', 'a:virtio', '--vxlan', '1@4789=127.0.0.2:4789', '--vxlan', '2@4790=127.0.0.2:4789'], /given twice/);
  rejects(['--vm', 'a:virtio', '--vxlan'], /needs a value/);
  rejects(['--vm', 'a:virtio', '--lab-id', 'a b'], /--lab-id takes/);
  rejects(['--vm', 'a:virtio', '--mtu', '20'], /--mtu takes/);
});
