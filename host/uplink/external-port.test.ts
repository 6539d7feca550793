import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { buildIpv4, ipv4HeaderValid, ipv4L4Valid, patternBytes } from '../../emulator/net/testing.ts';
import { Switch } from '../switch.ts';
import { SwitchPortAttachment } from '../attach.ts';
import { AclFilter } from '../extensions/acl.ts';
import { MacLearningForwarder } from '../extensions/mac-learning.ts';
import type { OidEvent } from '../events.ts';
import { BROADCAST, ScriptedNic, ethFrame, mac } from '../testing.ts';
import { ExternalPort, fitGsoToMtu } from './external-port.ts';
import type { Uplink } from './uplink.ts';

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

/** A transport that records what it is asked to send (a unit test of the port side). */
class FakeUplink implements Uplink {
  readonly description = 'fake';
  isUp = false;
  readonly sent: Frame[] = [];
  receiver: FrameSink | null = null;
  private readonly listeners = new Set<(up: boolean) => void>();
  constructor(readonly mtu = 1450) {}
  send(frames: readonly Frame[]): void {
    this.sent.push(...frames);
  }
  setReceiver(sink: FrameSink | null): void {
    this.receiver = sink;
  }
  onStateChange(listener: (up: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  drops(): Record<string, number> {
    return {};
  }
  setUp(up: boolean): void {
    this.isUp = up;
    for (const listener of this.listeners) listener(up);
  }
  async close(): Promise<void> {
    this.setUp(false);
  }
}

function recordOids(sw: Switch): string[] {
  const log: string[] = [];
  sw.events.on('oid', (e: OidEvent) => log.push(`${e.oid.replace('OID_SWITCH_', '')}:${e.portId}${e.status === 'success' ? '' : `:${e.status}`}`));
  return log;
}

async function vmPort(sw: Switch, last: number): Promise<ScriptedNic> {
  const nic = new ScriptedNic('virtio', mac(last), true);
  const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: `vm${last}`, index: 0 });
  await attachment.settled();
  return nic;
}

test('the external port: NIC_CONNECT when the uplink is up, the stop order when it goes, a new port when it comes back', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const uplink = new FakeUplink();
  const port = await ExternalPort.attach(sw, uplink);
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1']);
  assert.equal(sw.port(1)?.type, 'external');
  assert.equal(sw.nic(1, 0)?.type, 'external');
  assert.equal(sw.nic(1, 0)?.mtu, 1450);
  uplink.setUp(true);
  await port.settled();
  assert.deepEqual(oids.slice(2), ['NIC_CONNECT:1']);
  assert.ok(uplink.receiver);
  uplink.setUp(false);
  await port.settled();
  assert.deepEqual(oids.slice(3), ['NIC_DISCONNECT:1', 'NIC_DELETE:1', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
  assert.equal(uplink.receiver, null);
  uplink.setUp(true);
  await port.settled();
  assert.deepEqual(oids.slice(7), ['PORT_CREATE:2', 'NIC_CREATE:2', 'NIC_CONNECT:2']);
  await port.detach();
  assert.deepEqual(oids.slice(10), ['NIC_DISCONNECT:2', 'NIC_DELETE:2', 'PORT_TEARDOWN:2', 'PORT_DELETE:2']);
  assert.equal(sw.ports().length, 0);
});

test('the switch keeps one external NIC', async () => {
  const sw = new Switch();
  await ExternalPort.attach(sw, new FakeUplink());
  await assert.rejects(ExternalPort.attach(sw, new FakeUplink()), /already has an external NIC/);
  assert.equal(sw.ports().length, 1, 'the refused one left no port');
});

test('frames both ways; the ACL applies to the external port; a remote frame from a local MAC is dropped', async () => {
  const acl = new AclFilter();
  const sw = new Switch({ extensions: [acl, new MacLearningForwarder()] });
  const vm = await vmPort(sw, 1);
  const uplink = new FakeUplink();
  uplink.isUp = true;
  const port = await ExternalPort.attach(sw, uplink);
  const extId = port.portId!;
  vm.send(ethFrame(BROADCAST, mac(1)));
  await settle();
  assert.equal(uplink.sent.length, 1, 'broadcast from the VM went out');
  uplink.receiver!.deliver([ethFrame(mac(1), mac(9))]);
  assert.equal(vm.received.length, 1, 'a remote frame reached the VM');
  uplink.receiver!.deliver([ethFrame(mac(2), mac(1))]);
  assert.equal(port.drops['uplink-local-source-mac'], 1);
  acl.setRules([{ name: 'no-remote', action: 'deny', sourcePorts: [extId] }]);
  uplink.receiver!.deliver([ethFrame(mac(1), mac(9))]);
  assert.equal(vm.received.length, 1);
  assert.equal(sw.counters(extId).drops['acl:no-remote'], 1);
  await port.detach();
});

test('GSO frames leaving through it are segmented to its MTU; plain frames over it are dropped', async () => {
  const sw = new Switch();
  const vm = await vmPort(sw, 1);
  const uplink = new FakeUplink(1450);
  uplink.isUp = true;
  const port = await ExternalPort.attach(sw, uplink);
  // Learn the remote MAC on the external port so the unicast goes there.
  uplink.receiver!.deliver([ethFrame(mac(1), mac(9))]);
  const packet = buildIpv4('tcp', patternBytes(20000), { seed: 'full', srcMac: [2, 0, 0, 0, 0, 1], dstMac: [2, 0, 0, 0, 0, 9] });
  // The guest's MSS is for a 1500 MTU (1460); the uplink's is 1450 - 40 = 1410.
  vm.send({ data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4', segmentSize: 1460, headerLength: packet.payload } });
  await settle();
  assert.equal(uplink.sent.length, Math.ceil(20000 / 1410));
  for (const frame of uplink.sent) {
    assert.ok(frame.data.length <= 1450 + 14, `${frame.data.length}`);
    assert.ok(ipv4HeaderValid(frame.data, 14) && ipv4L4Valid(frame.data, 14));
    assert.equal(frame.gso, undefined);
  }
  uplink.sent.length = 0;
  vm.send(ethFrame(mac(9), mac(1), { length: 1500 + 14 }));
  await settle();
  assert.equal(uplink.sent.length, 0);
  assert.equal(port.drops['uplink-oversize'], 1);
  await port.detach();
});

test('fitGsoToMtu keeps a segment size that fits and refuses an MTU below the minimum segment', () => {
  const packet = buildIpv4('tcp', patternBytes(5000), { seed: 'full' });
  const frame: Frame = { data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4', segmentSize: 1000, headerLength: packet.payload } };
  assert.equal(fitGsoToMtu(frame, 1500), frame);
  assert.equal((fitGsoToMtu(frame, 1000) as Frame).gso!.segmentSize, 960);
  assert.equal(fitGsoToMtu(frame, 100), 'uplink-segment-failed');
});
