// Our e1000 (Intel 82540EM) in real guests (issue 4): the Linux e1000 driver
// probes cleanly and passes its own offline self-test; two VMs on a plain wire
// ping (also 1472- and 8000-byte pings), move 16 MiB over TCP with TSO on and
// off, see foreign traffic with tcpdump, use jumbo frames; link down/up and a
// driver reload leave a working NIC; a VM restored from a snapshot pings.
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

/** The guest's IP FragCreates counter (/proc/net/snmp). */
async function ipFragCreates(vm: VirtualMachine): Promise<number> {
  const lines = (await sh(vm, 'grep ^Ip: /proc/net/snmp')).trim().split('\n');
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('FragCreates')]);
}


const transfer = (from: VirtualMachine, to: VirtualMachine, toAddress: string) => transferOn(from, to, toAddress, 5002, 600_000);

before(async () => {
  const nics = [{ model: 'e1000' as const }];
  a = await VirtualMachine.start({ name: 'ea', template: true, nics, hostname: 'ea', ip: ['10.8.0.1/24'] });
  b = await VirtualMachine.start({ name: 'eb', template: true, nics, hostname: 'eb', ip: ['10.8.0.2/24'] });
  wire = connectWire(a.nics[0]!, b.nics[0]!);
});

after(async () => {
  wire?.disconnect();
  for (const vm of [...extra, a, b]) await vm?.stop();
});

test('the e1000 driver probes cleanly: PRO/1000 found, link up at 1000 Full, no EEPROM, hang or IRQ complaints', async () => {
  assert.equal(a.nics[0]!.model, 'e1000');
  assert.equal(a.nics[0]!.driverReady, true);
  assert.match(await sh(a, 'ethtool -i eth0'), /driver: e1000/);
  const dmesg = await sh(a, 'dmesg');
  assert.match(dmesg, /Intel\(R\) PRO\/1000 Network Connection/);
  assert.match(dmesg, /NIC Link is Up 1000 Mbps Full Duplex/);
  for (const bad of [/EEPROM Checksum Is Not Valid/, /Detected Tx Unit Hang/, /nobody cared/, /Hardware Error/]) assert.doesNotMatch(dmesg, bad);
  assert.deepEqual(a.nics[0]!.counters.guestErrors, {});
});

test('ethtool -t eth0 offline: register, EEPROM, interrupt, loopback and link tests all pass', async () => {
  const out = await sh(a, 'ethtool -t eth0 offline', 180_000);
  assert.match(out, /The test result is PASS/);
  for (const name of ['Register test', 'Eeprom test', 'Interrupt test', 'Loopback test', 'Link test']) {
    assert.match(out, new RegExp(`${name}\\s+\\([a-z/]+\\)\\s+0`), name);
  }
  // The self-test closes and reopens the interface: it must come back.
  await waitFor(a, 'ping -c 1 -W 2 10.8.0.2 || true', / 0% packet loss/, 60_000);
});

test('ethtool -k shows TSO and checksum offload on', async () => {
  const features = await sh(a, 'ethtool -k eth0');
  assert.match(features, /^tcp-segmentation-offload: on/m);
  assert.match(features, /^tx-checksumming: on/m);
  assert.match(features, /^scatter-gather: on/m);
});

test('two VMs on a plain wire: ping both ways, -s 1472 and -s 8000 (fragments)', async () => {
  assert.match(await sh(a, 'ping -c 3 -W 5 10.8.0.2'), / 0% packet loss/);
  assert.match(await sh(b, 'ping -c 3 -W 5 10.8.0.1'), / 0% packet loss/);
  assert.match(await sh(a, 'ping -c 2 -W 5 -s 1472 10.8.0.2'), /1480 bytes from[\s\S]* 0% packet loss/);
  assert.match(await sh(b, 'ping -c 2 -W 5 -s 8000 10.8.0.1'), /8008 bytes from[\s\S]* 0% packet loss/);
});

test('16 MiB over TCP with TSO on: sha256 matches, no guest errors', async () => {
  const [sent, received] = await transfer(a, b, '10.8.0.2');
  assert.equal(received, sent);
  assert.deepEqual(a.nics[0]!.counters.guestErrors, {});
  assert.deepEqual(b.nics[0]!.counters.guestErrors, {});
});

test('16 MiB over TCP with TSO and checksum offload off: sha256 matches', async () => {
  await sh(a, 'ethtool -K eth0 tso off tx off');
  try {
    const [sent, received] = await transfer(a, b, '10.8.0.2');
    assert.equal(received, sent);
  } finally {
    await sh(a, 'ethtool -K eth0 tso on tx on');
  }
});

test('tcpdump in promiscuous mode sees unicast for another MAC, the filter drops it otherwise', async () => {
  await sh(a, 'arp -s 10.8.0.9 02:00:00:00:00:99');
  const filteredBefore = b.nics[0]!.counters.rxDropped.filtered ?? 0;
  await a.exec('ping -c 2 -W 1 10.8.0.9');
  assert.ok((b.nics[0]!.counters.rxDropped.filtered ?? 0) >= filteredBefore + 2, 'not promiscuous: dropped by the MAC filter');
  await sh(b, 'rm -f /tmp/dump.txt; (tcpdump -n -l -i eth0 -c 2 icmp > /tmp/dump.txt 2>&1 &); sleep 3');
  await a.exec('ping -c 3 -W 1 10.8.0.9');
  const dump = await waitFor(b, 'cat /tmp/dump.txt', /2 packets captured/, 30_000);
  assert.match(dump, /10\.8\.0\.1 > 10\.8\.0\.9: ICMP echo request/);
});

test('MTU 9000 on both ends: a jumbo ping crosses unfragmented', async () => {
  await sh(a, 'ip link set eth0 mtu 9000');
  await sh(b, 'ip link set eth0 mtu 9000');
  try {
    await waitFor(a, 'ping -c 1 -W 2 10.8.0.2 || true', / 0% packet loss/, 60_000);
    const fragmentsBefore = await ipFragCreates(a);
    assert.match(await sh(a, 'ping -c 2 -W 5 -s 8900 10.8.0.2'), /8908 bytes from[\s\S]* 0% packet loss/);
    assert.equal(await ipFragCreates(a), fragmentsBefore, 'the 8928-byte packets left unfragmented');
    assert.equal(b.nics[0]!.counters.rxDropped.oversize ?? 0, 0);
  } finally {
    await sh(a, 'ip link set eth0 mtu 1500');
    await sh(b, 'ip link set eth0 mtu 1500');
  }
});

test('link down and up from the host and from the guest leave a working NIC', async () => {
  a.nics[0]!.setLinkUp(false);
  await waitFor(a, 'dmesg | tail -5', /NIC Link is Down/, 30_000);
  assert.doesNotMatch((await a.exec('ping -c 1 -W 1 10.8.0.2')).output, / 0% packet loss/);
  a.nics[0]!.setLinkUp(true);
  await waitFor(a, 'ping -c 1 -W 2 10.8.0.2 || true', / 0% packet loss/, 60_000);
  await sh(a, 'ip link set eth0 down && ip link set eth0 up');
  await waitFor(a, 'ping -c 1 -W 2 10.8.0.2 || true', / 0% packet loss/, 60_000);
});

test('rmmod e1000 and modprobe e1000: stopped, then ready again, and traffic resumes', async () => {
  const events: NicDriverEvent['type'][] = [];
  const off = a.nics[0]!.onDriverEvent((e) => events.push(e.type));
  try {
    await sh(a, 'rmmod e1000 && modprobe e1000 && sleep 3 && ip addr add 10.8.0.1/24 dev eth0 && ip link set eth0 up', 120_000);
    assert.ok(events.includes('stopped'), events.join(','));
    assert.equal(events.filter((t) => t !== 'mac').at(-1), 'ready');
    await waitFor(a, 'ping -c 1 -W 2 10.8.0.2 || true', / 0% packet loss/, 60_000);
  } finally {
    off();
  }
});

test('a VM restored from a snapshot taken after the driver came up still pings', async () => {
  const snapshot = await a.saveSnapshot();
  wire.disconnect();
  const restored = await VirtualMachine.start({ snapshot, name: 'ea2', hostname: 'ea2' });
  extra.push(restored);
  assert.equal(restored.nics[0]!.driverReady, true);
  wire = connectWire(restored.nics[0]!, b.nics[0]!);
  assert.match(await sh(restored, 'ping -c 3 -W 5 10.8.0.2'), / 0% packet loss/);
  assert.deepEqual(restored.nics[0]!.counters.guestErrors, {});
});
