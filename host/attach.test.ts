import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from './switch.ts';
import { SwitchPortAttachment, NicAttachError } from './attach.ts';
import type { Extension } from './extension.ts';
import type { OidEvent } from './events.ts';
import { ScriptedNic, ethFrame, mac, BROADCAST } from './testing.ts';
import { buildIpv4, ipv4L4Valid, patternBytes } from '../emulator/net/testing.ts';
import { containNic } from '../emulator/net/contain.ts';

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

function recordOids(sw: Switch): string[] {
  const log: string[] = [];
  sw.events.on('oid', (e: OidEvent) => log.push(`${e.oid.replace('OID_SWITCH_', '')}:${e.portId}${e.status === 'success' ? '' : `:${e.status}`}`));
  return log;
}

test('start and stop run the seed lifecycle; NIC_CONNECT waits for the guest driver', async () => {
  const sw = new Switch({ name: 't' });
  const oids = recordOids(sw);
  const nic = new ScriptedNic('e1000', mac(1));
  const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: 'a', index: 0 });
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1']);
  assert.equal(sw.port(1)?.type, 'emulated');

  nic.driver({ type: 'ready' });
  await settle();
  assert.deepEqual(oids.slice(2), ['NIC_CONNECT:1']);

  // A driver reload inside the running VM is an update on the same port, not a new port.
  nic.driver({ type: 'stopped', reason: 'rmmod' });
  nic.driver({ type: 'ready' });
  await settle();
  assert.deepEqual(oids.slice(3), ['NIC_UPDATED:1', 'NIC_UPDATED:1']);

  await attachment.detach();
  assert.deepEqual(oids.slice(5), ['NIC_DISCONNECT:1', 'NIC_DELETE:1', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
  assert.equal(sw.ports().length, 0);
});

test('a virtio NIC gets a synthetic port, and a MAC change in the guest is NIC_UPDATED', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const nic = new ScriptedNic('virtio', mac(2));
  nic.driverReady = true; // restored from a template snapshot: already bound
  await SwitchPortAttachment.attach(sw, nic, { vmName: 'b', index: 0 });
  await settle();
  assert.equal(sw.port(1)?.type, 'synthetic');
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1', 'NIC_CONNECT:1']);
  nic.driver({ type: 'mac', mac: mac(9) });
  await settle();
  assert.deepEqual(oids.slice(3), ['NIC_UPDATED:1']);
  assert.deepEqual(sw.nic(1, 0)?.mac, mac(9));
});

test('no frame flows before NIC_CONNECT; after it, frames cross and offloads are resolved for the receiver', async () => {
  const sw = new Switch();
  const a = new ScriptedNic('e1000', mac(1));
  const b = new ScriptedNic('virtio', mac(2));
  await SwitchPortAttachment.attach(sw, a, { vmName: 'a', index: 0 });
  await SwitchPortAttachment.attach(sw, b, { vmName: 'b', index: 0 });
  a.driver({ type: 'ready' });
  await settle();
  b.send(ethFrame(BROADCAST, mac(2)));
  a.send(ethFrame(BROADCAST, mac(1)));
  await settle();
  assert.equal(a.received.length, 0, 'b is not connected: nothing from it');
  assert.equal(b.received.length, 0, 'b is not connected: nothing to it');

  b.driver({ type: 'ready' });
  await settle();
  a.send(ethFrame(BROADCAST, mac(1), { seq: 7 }));
  await settle();
  assert.equal(b.received.length, 1);
  assert.equal(new DataView(b.received[0]!.data.buffer).getUint32(14), 7);
});

test('a veto of NIC_CREATE fails the attach with the extension named and leaves no port behind', async () => {
  const veto: Extension = {
    name: 'no-vms',
    kind: 'filter',
    oidRequest: (request) => (request.oid === 'OID_SWITCH_NIC_CREATE' ? { veto: 'VMs are not welcome' } : undefined),
  };
  const sw = new Switch({ extensions: [veto] });
  const oids = recordOids(sw);
  const nic = new ScriptedNic('e1000', mac(1));
  await assert.rejects(SwitchPortAttachment.attach(sw, nic, { vmName: 'a', index: 0 }), (error: unknown) => {
    assert.ok(error instanceof NicAttachError);
    assert.equal(error.vetoedBy, 'no-vms');
    assert.match(error.message, /a\/eth0 .*OID_SWITCH_NIC_CREATE vetoed by extension 'no-vms'/);
    return true;
  });
  assert.equal(sw.ports().length, 0);
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1:vetoed', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
});

test('a TSO frame reaches a NIC without offloads as checksummed segments, and whole to one that takes it', async () => {
  const sw = new Switch();
  const sender = new ScriptedNic('virtio', mac(1));
  const plain = new ScriptedNic('e1000', mac(2));
  const capable = new ScriptedNic('virtio', mac(3));
  capable.rxOffloads = { csum: true, gso: new Set(['tcp4']), maxFrameSize: 65550 };
  const attachments = [];
  for (const [i, nic] of [sender, plain, capable].entries()) {
    attachments.push(await SwitchPortAttachment.attach(sw, nic, { vmName: `v${i}`, index: 0 }));
    nic.driver({ type: 'ready' });
  }
  await settle();
  const packet = buildIpv4('tcp', patternBytes(10000), { srcMac: [...mac(1)], dstMac: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], seed: 'full' });
  sender.send({ data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4', segmentSize: 1460, headerLength: packet.payload } });
  await settle();
  assert.equal(capable.received.length, 1, 'the GSO frame crosses whole');
  assert.ok(capable.received[0]!.gso);
  assert.equal(plain.received.length, Math.ceil(10000 / 1460));
  for (const segment of plain.received) {
    assert.equal(segment.gso, undefined);
    assert.ok(ipv4L4Valid(segment.data, packet.l3), 'every segment has a valid TCP checksum');
  }

  // A frame the switch accepts but whose segmentation is impossible (TCP GSO on a UDP packet) is dropped
  // for the NIC that needed it resolved, counted with a reason; the NIC that takes it whole gets it.
  const udp = buildIpv4('udp', patternBytes(3000), { srcMac: [...mac(1)], dstMac: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], seed: 'full' });
  sender.send({ data: udp.data, csum: { start: udp.l4, offset: 6 }, gso: { type: 'tcp4', segmentSize: 1460, headerLength: udp.payload } });
  await settle();
  assert.equal(plain.received.length, Math.ceil(10000 / 1460));
  assert.equal(capable.received.length, 2);
  assert.equal(Object.values(attachments[1]!.deliveryDrops).reduce((a, b) => a + b, 0), 1);
});

/** An attacker and a victim VM on one switch; the attacker's port may have port security on. */
async function spoofLab(allowMacSpoofing: boolean) {
  const sw = new Switch();
  const oids = recordOids(sw);
  const attacker = new ScriptedNic('e1000', mac(1), true);
  const victim = new ScriptedNic('virtio', mac(2), true);
  const third = new ScriptedNic('virtio', mac(3), true);
  const properties = [{ type: 'security' as const, allowMacSpoofing }];
  const attackerPort = await SwitchPortAttachment.attach(sw, attacker, { vmName: 'attacker', index: 0 }, { properties });
  await SwitchPortAttachment.attach(sw, victim, { vmName: 'victim', index: 0 });
  await SwitchPortAttachment.attach(sw, third, { vmName: 'third', index: 0 });
  await settle();
  // Everyone speaks once: the switch learns where each MAC is.
  for (const nic of [attacker, victim, third]) nic.send(ethFrame(BROADCAST, nic.mac));
  await settle();
  for (const nic of [attacker, victim, third]) nic.received.length = 0;
  return { sw, oids, attacker, victim, third, attackerPort };
}

test('port security: a guest cannot change the MAC the switch enforces; its frames from the new MAC are dropped', async () => {
  const { sw, oids, attacker, victim, third, attackerPort } = await spoofLab(false);
  const before = oids.length;
  // The guest writes the victim's MAC into RAL0/RAH0 (or sends CTRL_MAC_ADDR_SET).
  attacker.driver({ type: 'mac', mac: victim.mac });
  await settle();
  assert.deepEqual(oids.slice(before), [], 'no NIC_UPDATED');
  assert.deepEqual(sw.nic(attackerPort.portId, 0)?.mac, mac(1), 'the switch keeps the MAC the host set');
  assert.equal(attackerPort.refusedGuestMacChanges, 1);
  // Its frames from the new MAC are spoofing; traffic to the victim goes to the victim only.
  attacker.send(ethFrame(BROADCAST, victim.mac));
  attacker.send(ethFrame(third.mac, victim.mac));
  await settle();
  assert.equal(sw.counters(attackerPort.portId).drops['mac-spoofing'], 2);
  assert.equal(third.received.length, 0);
  third.send(ethFrame(victim.mac, third.mac, { seq: 1 }));
  await settle();
  assert.equal(victim.received.length, 1);
  assert.equal(attacker.received.length, 0, 'traffic to the victim MAC never reaches the attacker');
  // Setting its own MAC again is no change; the host API still changes the enforced MAC.
  attacker.driver({ type: 'mac', mac: mac(1) });
  await settle();
  assert.equal(attackerPort.refusedGuestMacChanges, 1);
  await sw.updateNic(attackerPort.portId, 0, { mac: mac(9) });
  assert.deepEqual(sw.nic(attackerPort.portId, 0)?.mac, mac(9));
});

test('port security off (the default): a guest MAC change is adopted with NIC_UPDATED', async () => {
  const { sw, oids, attacker, third, attackerPort } = await spoofLab(true);
  const before = oids.length;
  attacker.driver({ type: 'mac', mac: mac(5) });
  await settle();
  assert.deepEqual(oids.slice(before), [`NIC_UPDATED:${attackerPort.portId}`]);
  assert.deepEqual(sw.nic(attackerPort.portId, 0)?.mac, mac(5));
  assert.equal(attackerPort.refusedGuestMacChanges, 0);
  attacker.send(ethFrame(third.mac, mac(5)));
  await settle();
  assert.equal(third.received.length, 1);
});

test('port security turned on after a queued guest MAC change: decided in the port OID order', async () => {
  const sw = new Switch();
  const nic = new ScriptedNic('e1000', mac(1), true);
  const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: 'a', index: 0 });
  const securing = sw.addPortProperty(attachment.portId, { type: 'security', allowMacSpoofing: false });
  nic.driver({ type: 'mac', mac: mac(7) });
  await securing;
  await settle();
  assert.deepEqual(sw.nic(attachment.portId, 0)?.mac, mac(1));
  assert.equal(attachment.refusedGuestMacChanges, 1);
});

test('two overlapping detach() calls run the stop lifecycle once and both resolve', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const nic = new ScriptedNic('e1000', mac(1));
  const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: 'a', index: 0 });
  nic.driver({ type: 'ready' });
  await settle();
  // Before the fix the second call also ran stopPort, on a port the first was deleting, and rejected.
  await Promise.all([attachment.detach(), attachment.detach()]);
  await attachment.detach();
  assert.deepEqual(oids.slice(3), ['NIC_DISCONNECT:1', 'NIC_DELETE:1', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
  assert.equal(sw.ports().length, 0);
});

test('a NIC whose model throws on delivery fails: its port runs the stop lifecycle in order, the other ports keep forwarding', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const errors: unknown[] = [];
  sw.events.on('error', (event) => errors.push(event));
  const raws = [1, 2, 3].map((n) => new ScriptedNic('e1000', mac(n)));
  const nics = raws.map((raw) => containNic(raw));
  const attachments = [];
  for (const [i, nic] of nics.entries()) attachments.push(await SwitchPortAttachment.attach(sw, nic, { vmName: `v${i}`, index: 0 }));
  for (const raw of raws) raw.driver({ type: 'ready' });
  await settle();
  const failures: Error[] = [];
  attachments[2]!.onFailure((error) => failures.push(error));
  raws[2]!.receive = () => {
    throw new RangeError('offset is out of bounds');
  };
  oids.length = 0;
  raws[0]!.send(ethFrame(BROADCAST, mac(1), { seq: 1 }));
  await settle();
  assert.equal(raws[1]!.received.length, 1, 'the broadcast still reached the healthy NIC');
  assert.equal(attachments[2]!.failure?.message, 'offset is out of bounds');
  assert.equal(failures.length, 1, 'reported once, after the port left');
  assert.deepEqual(oids, ['NIC_DISCONNECT:3', 'NIC_DELETE:3', 'PORT_TEARDOWN:3', 'PORT_DELETE:3']);
  assert.equal(sw.port(3), undefined);
  assert.deepEqual(errors, [], 'nothing reached the switch as a delivery error');

  raws[1]!.send(ethFrame(mac(1), mac(2), { seq: 2 }));
  raws[0]!.send(ethFrame(BROADCAST, mac(1), { seq: 3 }));
  await settle();
  assert.equal(raws[0]!.received.length, 1);
  assert.equal(raws[1]!.received.length, 2);
  // The VM's own stop later waits for the same stop lifecycle instead of running a second one.
  await attachments[2]!.detach();
  await Promise.all(attachments.slice(0, 2).map((a) => a.detach()));
  assert.equal(sw.ports().length, 0);
});
