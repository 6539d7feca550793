// Our virtio-net in real guests (issue 5): the Linux virtio_net driver binds
// with a clean dmesg and TSO on; two VMs on a plain wire ping (also 8000-byte
// pings), move 16 MiB over TCP with matching sha256 with offloads on and off,
// tcpdump sees foreign traffic in promiscuous mode; a VM with a virtio-net
// and an e1000 uses both; a VM restored from a snapshot pings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualMachine } from '../../emulator/vm.ts';
import { connectWire, type WireHandle } from '../../emulator/net/wire.ts';
import type { NicDriverEvent } from '../../emulator/net/nic.ts';
import { sh, transfer as transferOn, waitFor } from './shell.ts';

let a: VirtualMachine;
let b: VirtualMachine;
let wire: WireHandle;
const extra: VirtualMachine[] = [];

const transfer = (from: VirtualMachine, to: VirtualMachine, toAddress: string) => transferOn(from, to, toAddress, 5001, 300_000);

before(async () => {
  const nics = [{ model: 'virtio' as const }];
  a = await VirtualMachine.start({ name: 'va', template: true, nics, hostname: 'va', ip: ['10.5.0.1/24'] });
  b = await VirtualMachine.start({ name: 'vb', template: true, nics, hostname: 'vb', ip: ['10.5.0.2/24'] });
  wire = connectWire(a.nics[0]!, b.nics[0]!);
});

after(async () => {
  wire?.disconnect();
  for (const vm of [...extra, a, b]) await vm?.stop();
});

test('the virtio_net driver binds our device with a clean dmesg, and the NIC reports ready', async () => {
  assert.equal(a.nics[0]!.model, 'virtio');
  assert.equal(a.nics[0]!.driverReady, true);
  assert.match(await sh(a, 'ethtool -i eth0'), /driver: virtio_net/);
  const dmesg = await sh(a, 'dmesg');
  const bad = dmesg.split('\n').filter((line) => /virtio|eth0/i.test(line) && /error|fail|warn|refus|bug|timeout/i.test(line));
  assert.deepEqual(bad, []);
  assert.deepEqual(a.nics[0]!.counters.guestErrors, {});
});

test('ethtool -k shows checksum offload, TSO and scatter-gather on', async () => {
  const features = await sh(a, 'ethtool -k eth0');
  assert.match(features, /^tcp-segmentation-offload: on/m);
  assert.match(features, /^\ttx-tcp-segmentation: on/m);
  assert.match(features, /^tx-checksumming: on/m);
  assert.match(features, /^scatter-gather: on/m);
  // What the wire sees: the guest negotiated receive offloads too.
  assert.equal(b.nics[0]!.rxOffloads.gso.has('tcp4'), true);
  assert.equal(b.nics[0]!.rxOffloads.csum, true);
});

test('two VMs on a plain wire: ping and ping -s 8000', async () => {
  assert.match(await sh(a, 'ping -c 3 -W 5 10.5.0.2'), / 0% packet loss/);
  assert.match(await sh(b, 'ping -c 2 -W 5 -s 8000 10.5.0.1'), /8008 bytes from 10\.5\.0\.1[\s\S]* 0% packet loss/);
});

test('16 MiB over TCP with offloads on: sha256 matches and large GSO frames cross whole', async () => {
  const before = wire.counters.aToB.frames;
  const bytesBefore = wire.counters.aToB.bytes;
  const [sent, received] = await transfer(a, b, '10.5.0.2');
  assert.equal(received, sent);
  const frames = wire.counters.aToB.frames - before;
  const bytes = wire.counters.aToB.bytes - bytesBefore;
  // 16 MiB in MTU-sized frames would be over 11,000 of them.
  assert.ok(bytes / frames > 1514, `average frame ${Math.round(bytes / frames)} bytes over ${frames} frames`);
});

test('16 MiB over TCP with offloads off on both ends: sha256 matches', async () => {
  await sh(a, 'ethtool -K eth0 tso off gso off tx off');
  await sh(b, 'ethtool -K eth0 tso off gso off tx off');
  try {
    const before = wire.counters.aToB.frames;
    const bytesBefore = wire.counters.aToB.bytes;
    const [sent, received] = await transfer(a, b, '10.5.0.2');
    assert.equal(received, sent);
    const average = (wire.counters.aToB.bytes - bytesBefore) / (wire.counters.aToB.frames - before);
    assert.ok(average <= 1514, `no frame above the MTU without offloads (average ${average})`);
  } finally {
    await sh(a, 'ethtool -K eth0 tso on gso on tx on');
    await sh(b, 'ethtool -K eth0 tso on gso on tx on');
  }
});

test('tcpdump in promiscuous mode sees unicast for another MAC, the filter drops it otherwise', async () => {
  await sh(a, 'arp -s 10.5.0.9 02:00:00:00:00:99');
  const filteredBefore = b.nics[0]!.counters.rxDropped.filtered ?? 0;
  await a.exec('ping -c 2 -W 1 10.5.0.9');
  assert.ok((b.nics[0]!.counters.rxDropped.filtered ?? 0) >= filteredBefore + 2, 'not promiscuous: dropped by the MAC filter');
  await sh(b, 'rm -f /tmp/dump.txt; (tcpdump -n -l -i eth0 -c 2 icmp > /tmp/dump.txt 2>&1 &); sleep 3');
  await a.exec('ping -c 3 -W 1 10.5.0.9');
  const dump = await waitFor(b, 'cat /tmp/dump.txt', /2 packets captured/, 30_000);
  assert.match(dump, /10\.5\.0\.1 > 10\.5\.0\.9: ICMP echo request/);
});

test('a guest reset (driver unbound and bound again) gives stopped, features and ready, and traffic resumes', async () => {
  const events: NicDriverEvent['type'][] = [];
  const off = a.nics[0]!.onDriverEvent((e) => events.push(e.type));
  try {
    await sh(a, 'rmmod virtio_net && modprobe virtio_net && sleep 2 && ip addr add 10.5.0.1/24 dev eth0 && ip link set eth0 up', 120_000);
    assert.deepEqual(events.filter((t) => t !== 'mac'), ['stopped', 'features', 'ready']);
    await waitFor(a, 'ping -c 1 -W 2 10.5.0.2 || true', / 0% packet loss/, 60_000);
  } finally {
    off();
  }
});

test('a VM with a virtio-net and an e1000 has eth0 and eth1 both working', async () => {
  wire.disconnect();
  const c = await VirtualMachine.start({ name: 'vc', template: true, nics: [{ model: 'virtio' }, { model: 'e1000' }], hostname: 'vc', ip: ['10.6.0.3/24', '10.7.0.3/24'] });
  extra.push(c);
  assert.match(await sh(c, 'ethtool -i eth0'), /driver: virtio_net/);
  assert.match(await sh(c, 'ethtool -i eth1'), /driver: e1000/);
  await sh(a, 'ip addr add 10.6.0.1/24 dev eth0');
  await sh(b, 'ip addr add 10.7.0.2/24 dev eth0');
  const toA = connectWire(c.nics[0]!, a.nics[0]!);
  const toB = connectWire(c.nics[1]!, b.nics[0]!);
  try {
    assert.match(await sh(c, 'ping -c 2 -W 5 10.6.0.1'), / 0% packet loss/);
    assert.match(await sh(c, 'ping -c 2 -W 5 -s 4000 10.7.0.2'), / 0% packet loss/);
  } finally {
    toA.disconnect();
    toB.disconnect();
  }
  wire = connectWire(a.nics[0]!, b.nics[0]!);
});

test('a VM restored from a snapshot keeps its virtio-net working and pings', async () => {
  await sh(a, 'echo from-a > /tmp/who');
  const snapshot = await a.saveSnapshot();
  wire.disconnect();
  // No NIC list: the restored VM keeps the saved MAC, so b's ARP entry for 10.5.0.1 stays right.
  const restored = await VirtualMachine.start({ snapshot, name: 'va2', hostname: 'va2' });
  extra.push(restored);
  assert.equal(restored.nics[0]!.driverReady, true);
  wire = connectWire(restored.nics[0]!, b.nics[0]!);
  assert.equal(await sh(restored, 'cat /tmp/who'), 'from-a\n');
  assert.match(await sh(restored, 'ping -c 3 -W 5 10.5.0.2'), / 0% packet loss/);
  assert.deepEqual(restored.nics[0]!.counters.guestErrors, {});
});
