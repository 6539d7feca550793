// Fault containment with real guests (issue 12): three VMs on one lab switch
// (a: e1000, b: virtio-net, c: e1000). c's NIC model is made to throw on
// purpose (the test hook injectNicFault, emulator/net/testing.ts: its
// receive() throws from then on). The first frame that reaches it (an ARP
// broadcast from a) fails that NIC alone: the lab reports the fault, c's port
// runs the seed's stop lifecycle, c's guest sees its link go down and c keeps
// running; a and b still ping each other, and this process is still here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, type LabFaultEvent, type LabOidEvent } from '../../host/lab/index.ts';
import { injectNicFault } from '../../emulator/net/testing.ts';
import { labShell } from './shell.ts';

let lab: Lab;
const oids: LabOidEvent[] = [];
const faults: LabFaultEvent[] = [];

const { sh, ok } = labShell(() => lab);

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

before(async () => {
  // The fault is injected into the NIC model itself (a test hook): the VMs run on this thread. A VM thread's own death is threads.test.ts.
  lab = new Lab({ thread: 'main' });
  lab.on('oid', (event) => oids.push(event));
  lab.on('fault', (event) => faults.push(event));
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['virtio'] });
  await lab.start('c', { nics: ['e1000'] });
});

after(async () => {
  await lab?.close();
});

test('all three VMs reach each other before the fault', async () => {
  await ok('a', 'ping -c 1 -W 5 b && ping -c 1 -W 5 c');
  await ok('c', 'ping -c 1 -W 5 b');
});

test("c's NIC throws: its port stops in the seed's order, its link goes down, c keeps running, a and b still ping", async () => {
  const cPort = lab.vm('c')!.portIds[0]!;
  const guestNic = lab.vm('c')!.guest!.nics[0]!;
  // Counted before the fault: any frame (a neighbour solicitation, the flush's own traffic) may reach c first.
  const seen = oids.length;
  injectNicFault(guestNic, new RangeError('injected: offset is out of bounds'));
  // Forget c's ARP entry on a, so a's next ping to c starts with a broadcast that c's (now broken) model receives.
  await ok('a', 'ip neigh flush all');
  const ping = await sh('a', 'ping -c 2 -W 3 c');
  assert.notEqual(ping.exitCode, 0, `c cannot answer with a dead NIC:\n${ping.output}`);

  const fault = await until('the fault event', () => faults[0]);
  assert.equal(fault.vm, 'c');
  assert.equal(fault.nic, 'eth0');
  assert.equal(fault.portId, cPort);
  assert.equal(fault.message, 'RangeError: injected: offset is out of bounds');
  assert.equal(faults.length, 1, 'reported once');

  const stopOrder = ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE'];
  const cOids = await until("c's port stop lifecycle", () => {
    const mine = oids.slice(seen).filter((e) => e.portId === cPort).map((e) => `${e.oid.replace('OID_SWITCH_', '')}:${e.status}`);
    return mine.length >= stopOrder.length ? mine : undefined;
  });
  assert.deepEqual(cOids, stopOrder.map((oid) => `${oid}:success`));
  assert.equal(lab.switch.port(cPort), undefined, "c's port is gone");
  assert.equal(lab.ports().find((row) => row.portId === cPort)?.fault, fault.message);

  // The other two VMs are untouched.
  await ok('a', 'ping -c 3 -W 5 b');
  await ok('b', 'ping -c 3 -W 5 a');

  // c itself keeps running, and its guest sees the cable pulled.
  assert.equal(lab.vm('c')!.state, 'running');
  assert.match(await ok('c', 'echo alive'), /alive/);
  await until("c's guest sees no carrier", async () => {
    const { output } = await sh('c', 'cat /sys/class/net/eth0/carrier 2>&1');
    return output.trim() === '0' ? true : undefined;
  });
});

test('stopping the VM with the failed NIC waits for its port instead of stopping it twice', async () => {
  await lab.stop('c');
  assert.equal(lab.vm('c')!.state, 'stopped');
  await ok('a', 'ping -c 1 -W 5 b');
});
