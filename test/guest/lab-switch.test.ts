// Three real guests on one lab switch (a: e1000, b: e1000, c: virtio-net),
// shared by the cases below, which run in order: MAC learning, the ACL, the
// pcapng capture, NIC_UPDATED from inside a VM, a vetoed VM start, stopping a
// VM under a ping flood and starting it again, and VLANs last (they change
// the ports).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabOidEvent } from '../../host/lab/index.ts';
import { Observer } from '../../host/lab/testing.ts';
import { NicAttachError } from '../../host/attach.ts';
import type { Extension } from '../../host/extension.ts';
import type { TimeoutEvent } from '../../host/events.ts';
import { labShell } from './shell.ts';

const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
let lab: Lab;
let observer: Observer;
const oids: LabOidEvent[] = [];
const timeouts: TimeoutEvent[] = [];

const { sh, ok } = labShell(() => lab);

function portOf(vm: string): number {
  const id = lab.vm(vm)?.portIds[0];
  assert.ok(id !== undefined, `${vm} has a port`);
  return id;
}

before(async () => {
  lab = new Lab();
  observer = new Observer();
  lab.switch.addExtension(observer, 0);
  lab.on('oid', (event) => oids.push(event));
  lab.switch.on('timeout', (event) => timeouts.push(event));
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['e1000'] });
  await lab.start('c', { nics: ['virtio'] });
});

after(async () => {
  await lab?.close();
});

test('each VM start ran PORT_CREATE, NIC_CREATE, NIC_CONNECT on its own port', () => {
  for (const name of ['a', 'b', 'c']) {
    const mine = oids.filter((e) => e.vm === name).map((e) => [e.oid.replace('OID_SWITCH_', ''), e.status]);
    assert.deepEqual(mine, [
      ['PORT_CREATE', 'success'],
      ['NIC_CREATE', 'success'],
      ['NIC_CONNECT', 'success'],
    ]);
  }
  const macs = lab.ports().map((p) => p.mac);
  assert.equal(new Set(macs).size, 3, `three VMs from one template have three MACs: ${macs.join(' ')}`);
});

test('MAC learning: an unknown unicast is flooded, then learned and sent to its port only', async () => {
  // Warm the guests' ARP caches, then make the switch forget every address.
  await ok('a', 'ping -c 1 -W 5 b && ping -c 1 -W 5 c');
  // If b happens to send anything between the flush and a's request (an ARP probe of its own),
  // the switch rightly learns b first and does not flood: then the attempt says nothing, so repeat it.
  let flooded: { cBefore: number; cAfter: number; destinations: number[] } | undefined;
  for (let attempt = 0; attempt < 5 && !flooded; attempt++) {
    lab.forwarder!.flushAll();
    observer.clear();
    const cBefore = lab.ports().find((p) => p.vm === 'c')!.counters.txPackets;
    await ok('a', 'ping -c 1 -W 5 b');
    const cAfter = lab.ports().find((p) => p.vm === 'c')!.counters.txPackets;
    const delivered = observer.log.filter((e) => e.kind === 'deliver');
    const first = delivered.find((e) => e.kind === 'deliver' && e.icmpType === 8 && e.fromPortId === portOf('a'));
    assert.ok(first, 'the echo request crossed the switch');
    if (delivered.some((e) => e.kind === 'deliver' && e.fromPortId === portOf('b') && e.seq < first.seq)) continue;
    const destinations = delivered.filter((e) => e.kind === 'deliver' && e.icmpType === 8 && e.fromPortId === portOf('a')).map((e) => (e.kind === 'deliver' ? e.toPortId : -1));
    flooded = { cBefore, cAfter, destinations };
  }
  assert.ok(flooded, 'b kept talking between every flush and the request');
  assert.deepEqual(flooded.destinations.sort(), [portOf('b'), portOf('c')].sort(), 'the echo request to the not-yet-learned b went to b and c');
  assert.ok(flooded.cAfter - flooded.cBefore >= 1, `c's port counted the flooded copy (tx ${flooded.cBefore} -> ${flooded.cAfter})`);

  observer.clear();
  await ok('a', 'ping -c 3 -W 5 b');
  const requests = observer.log.filter((e) => e.kind === 'deliver' && e.icmpType === 8 && e.fromPortId === portOf('a'));
  assert.equal(requests.length, 3);
  assert.ok(
    requests.every((e) => e.kind === 'deliver' && e.toPortId === portOf('b')),
    'once b is learned, echo requests go to b only',
  );
  const learned = lab.forwarder!.entries().map((e) => `${e.mac}@${e.portId}`);
  assert.ok(learned.includes(`${lab.ports().find((p) => p.vm === 'b')!.mac}@${portOf('b')}`), `table: ${learned.join(' ')}`);
});

test('an ACL denying ICMP blocks ping but not TCP', async () => {
  await ok('b', 'mkdir -p /tmp/www && echo hello-over-tcp > /tmp/www/hello && httpd -p 8080 -h /tmp/www');
  lab.acl!.setRules([{ name: 'no-icmp', action: 'deny', protocol: 'icmp' }]);
  try {
    const ping = await sh('a', 'ping -c 2 -W 2 b');
    assert.notEqual(ping.exitCode, 0, ping.output);
    assert.match(ping.output, /0 packets received/);
    assert.equal(await ok('a', 'wget -q -O - http://b:8080/hello'), 'hello-over-tcp\n');
    assert.ok((lab.ports().find((p) => p.vm === 'a')!.counters.drops['acl:no-icmp'] ?? 0) >= 2, JSON.stringify(lab.ports()[0]!.counters.drops));
  } finally {
    lab.acl!.setRules([]);
  }
  await ok('a', 'ping -c 1 -W 5 b');
});

test('the pcapng capture of the whole switch, read by tshark, shows the ICMP exchange', async () => {
  lab.capture!.enabled = true;
  try {
    await ok('a', 'ping -c 2 -W 5 c');
  } finally {
    lab.capture!.enabled = false;
  }
  mkdirSync(artifacts, { recursive: true });
  const file = join(artifacts, 'lab-switch.pcapng');
  lab.capture!.flush();
  writeFileSync(file, lab.capture!.bytes());
  const fields = execFileSync('tshark', ['-r', file, '-Y', 'icmp', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type'], { encoding: 'utf8' });
  const lines = fields.trim().split('\n');
  assert.ok(lines.filter((l) => l === '10.0.0.1\t10.0.0.3\t8').length >= 2, fields);
  assert.ok(lines.filter((l) => l === '10.0.0.3\t10.0.0.1\t0').length >= 2, fields);
});

test('inside a running VM: an MTU change and a driver reload are NIC_UPDATED on the same port', async () => {
  const port = portOf('a');
  const start = oids.length;
  await ok('a', 'ip link set eth0 mtu 1400');
  assert.equal(lab.switch.nic(port, 0)?.mtu, 1400);
  await ok('a', 'ip link set eth0 mtu 1500');
  assert.equal(lab.switch.nic(port, 0)?.mtu, 1500);
  // A driver reload resets the virtio device (`ip link set down` alone is invisible to a virtio device).
  await ok('c', 'rmmod virtio_net && modprobe virtio_net && ip addr add 10.0.0.3/24 dev eth0 && ip link set eth0 up && sleep 1');
  await ok('c', 'ping -c 1 -W 5 a');
  assert.equal(lab.switch.nic(portOf('c'), 0)?.state, 'connected');
  const seen = oids.slice(start).map((e) => `${e.vm}:${e.oid.replace('OID_SWITCH_', '')}`);
  assert.ok(seen.filter((s) => s === 'a:NIC_UPDATED').length >= 2, seen.join(' '));
  assert.ok(seen.includes('c:NIC_UPDATED'), seen.join(' '));
  assert.ok(!seen.some((s) => /PORT_CREATE|NIC_CREATE|PORT_DELETE/.test(s)), seen.join(' '));
});

test('an extension vetoing NIC_CREATE makes the VM start fail, naming it, and leaves no port', async () => {
  const veto: Extension = {
    name: 'no-new-nics',
    kind: 'filter',
    oidRequest: (request) => (request.oid === 'OID_SWITCH_NIC_CREATE' ? { veto: 'no new NICs today' } : undefined),
  };
  lab.switch.addExtension(veto);
  const portsBefore = lab.switch.ports().map((p) => p.id);
  const start = oids.length;
  try {
    await assert.rejects(lab.start('d', { nics: ['virtio'] }), (error: unknown) => {
      assert.ok(error instanceof NicAttachError, String(error));
      assert.equal(error.vetoedBy, 'no-new-nics');
      assert.match(error.message, /d\/eth0.*NIC_CREATE vetoed by extension 'no-new-nics'/);
      return true;
    });
  } finally {
    lab.switch.removeExtension('no-new-nics');
  }
  assert.deepEqual(lab.switch.ports().map((p) => p.id), portsBefore);
  assert.equal(lab.vm('d')?.state, 'failed');
  assert.deepEqual(
    oids.slice(start).map((e) => `${e.vm}:${e.oid.replace('OID_SWITCH_', '')}:${e.status}`),
    ['d:PORT_CREATE:success', 'd:NIC_CREATE:vetoed', 'd:PORT_TEARDOWN:success', 'd:PORT_DELETE:success'],
  );
});

test('stopping a VM under a ping flood: the seed order, no delivery after disconnect, the sender sees it go; a restart gets a new port', async () => {
  const oldPort = portOf('b');
  const bNic = lab.vm('b')!.guest!.nics[0]!;
  let rxAtDisconnect = -1;
  let logAtDisconnect = -1;
  let counted: Promise<void> | undefined;
  const off = lab.on('oid', (e) => {
    // Completed: from here on the NIC is 'disconnected'.
    if (e.portId === oldPort && e.oid === 'OID_SWITCH_NIC_DISCONNECT') {
      rxAtDisconnect = bNic.counters.rxFrames;
      // A VM in its own thread: the mirror's counters are copies; ask for the count as of now (no frame goes to b any more).
      const guest = lab.vm('b')!.guest!;
      counted = guest.refreshCounters?.().then(() => void (rxAtDisconnect = bNic.counters.rxFrames));
      logAtDisconnect = observer.log.length;
    }
  });
  observer.clear();
  const start = oids.length;
  const flood = sh('a', 'ping -i 0.01 -w 8 -q b', 30_000);
  // Stop b once the flood is reaching it.
  for (let i = 0; i < 100 && observer.log.filter((e) => e.kind === 'deliver' && e.toPortId === oldPort).length < 30; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await lab.stop('b');
  off();
  await counted;
  const flooded = await flood;

  const stopOids = oids.slice(start).filter((e) => e.portId === oldPort);
  assert.deepEqual(
    stopOids.map((e) => `${e.oid.replace('OID_SWITCH_', '')}:${e.status}`),
    ['NIC_DISCONNECT:success', 'NIC_DELETE:success', 'PORT_TEARDOWN:success', 'PORT_DELETE:success'],
  );
  assert.deepEqual(timeouts, [], 'the drain before NIC_DELETE completed without timing out');
  const disconnectAt = observer.log.findIndex((e) => e.kind === 'oid' && e.oid === 'OID_SWITCH_NIC_DISCONNECT' && e.portId === oldPort);
  const deleteAt = observer.log.findIndex((e) => e.kind === 'oid' && e.oid === 'OID_SWITCH_NIC_DELETE' && e.portId === oldPort);
  assert.ok(disconnectAt > 0 && deleteAt > disconnectAt);
  const toB = observer.log.map((e, i) => ({ e, i })).filter(({ e }) => e.kind === 'deliver' && e.toPortId === oldPort);
  assert.ok(toB.length >= 30, `the flood reached b (${toB.length} copies)`);
  assert.ok(toB.every(({ i }) => i < logAtDisconnect), 'no copy for b after NIC_DISCONNECT completed');
  assert.equal(bNic.counters.rxFrames, rxAtDisconnect, "b's NIC received nothing after NIC_DISCONNECT");
  const final = lab.ports().find((p) => p.portId === oldPort)!;
  assert.equal(final.portState, 'deleted');
  // Counters are kept after PORT_DELETE; they include the flood's copies.
  assert.ok(final.counters.txPackets >= toB.length, `${final.counters.txPackets} >= ${toB.length}`);

  // The sender saw replies stop; afterwards b is unreachable; the switch keeps serving a <-> c.
  const stats = /(\d+) packets transmitted, (\d+) packets received/.exec(flooded.output);
  assert.ok(stats && Number(stats[2]) < Number(stats[1]), flooded.output);
  const gone = await sh('a', 'ping -c 2 -W 2 b');
  assert.notEqual(gone.exitCode, 0, gone.output);
  await ok('a', 'ping -c 2 -W 5 c');

  await lab.start('b');
  const newPort = portOf('b');
  assert.ok(newPort > oldPort, `new port id ${newPort} after ${oldPort}`);
  await ok('a', 'ping -c 3 -W 5 b');
});

test('VLANs: two access VLANs keep a and b apart; c on a trunk with VLAN subinterfaces reaches both', async () => {
  await lab.switch.addPortProperty(portOf('a'), { type: 'vlan', mode: 'access', vlanId: 10 });
  await lab.switch.addPortProperty(portOf('b'), { type: 'vlan', mode: 'access', vlanId: 20 });
  await lab.switch.addPortProperty(portOf('c'), { type: 'vlan', mode: 'trunk', allowed: [10, 20] });
  await ok('a', 'ip addr add 10.0.10.1/24 dev eth0');
  await ok('b', 'ip addr add 10.0.20.2/24 dev eth0');
  await ok(
    'c',
    'vconfig add eth0 10 && vconfig add eth0 20 && ip addr add 10.0.10.3/24 dev eth0.10 && ip addr add 10.0.20.3/24 dev eth0.20 && ip link set eth0.10 up && ip link set eth0.20 up',
  );
  const apart = await sh('a', 'ping -c 2 -W 2 10.0.0.2');
  assert.notEqual(apart.exitCode, 0, `a reached b across VLANs:\n${apart.output}`);
  assert.match(await ok('c', 'ping -c 2 -W 5 10.0.10.1'), /2 packets received/);
  assert.match(await ok('c', 'ping -c 2 -W 5 10.0.20.2'), /2 packets received/);
});
