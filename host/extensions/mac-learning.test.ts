import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../switch.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, VirtualClock, attachVm, ethFrame, mac } from '../testing.ts';

async function lab(count: number, options: { agingMs?: number; maxEntries?: number } = {}) {
  const clock = new VirtualClock();
  const forwarder = new MacLearningForwarder(options);
  const sw = new Switch({ clock: clock.now, extensions: [forwarder] });
  const vms = [];
  for (let i = 1; i <= count; i++) vms.push(await attachVm(sw, i));
  return { sw, clock, forwarder, vms };
}

test('learns sources, sends known unicast only to its NIC, floods unknown unicast, broadcast and multicast except to the source', async () => {
  const { sw, forwarder, vms } = await lab(3);
  const [a, b, c] = vms as [typeof vms[0], typeof vms[0], typeof vms[0]];
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac)]); // b unknown: flood to b and c
  assert.deepEqual([a.sink.frames.length, b.sink.frames.length, c.sink.frames.length], [0, 1, 1]);
  assert.deepEqual(forwarder.lookup(0, a.mac), { vlan: 0, mac: '02:00:00:00:00:01', portId: a.portId, nicIndex: 0, lastSeen: forwarder.lookup(0, a.mac)!.lastSeen });
  sw.ingress(b.portId, 0, [ethFrame(a.mac, b.mac)]); // a known: only a
  assert.deepEqual([a.sink.frames.length, b.sink.frames.length, c.sink.frames.length], [1, 1, 1]);
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac)]); // b now known
  assert.deepEqual([a.sink.frames.length, b.sink.frames.length, c.sink.frames.length], [1, 2, 1]);
  sw.ingress(c.portId, 0, [ethFrame(BROADCAST, c.mac), ethFrame(Uint8Array.of(0x01, 0, 0x5e, 0, 0, 1), c.mac)]);
  assert.deepEqual([a.sink.frames.length, b.sink.frames.length, c.sink.frames.length], [3, 4, 1]);
  assert.equal(forwarder.entryCount, 3);
  // A frame to an address learned on its own port is a hairpin: dropped with a reason.
  sw.ingress(a.portId, 0, [ethFrame(a.mac, a.mac)]);
  assert.equal(sw.counters(a.portId).drops['hairpin'], 1);
});

test('a moved address follows its last source', async () => {
  const { sw, forwarder, vms } = await lab(3);
  const [a, b, c] = vms as [typeof vms[0], typeof vms[0], typeof vms[0]];
  const roaming = mac(0x42);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, roaming)]);
  assert.equal(forwarder.lookup(0, roaming)!.portId, a.portId);
  sw.ingress(b.portId, 0, [ethFrame(BROADCAST, roaming)]);
  assert.equal(forwarder.lookup(0, roaming)!.portId, b.portId);
  sw.ingress(c.portId, 0, [ethFrame(roaming, c.mac)]);
  assert.equal(b.sink.frames.length, 2);
  assert.equal(a.sink.frames.length, 1);
});

test('entries age out on the virtual clock; traffic refreshes them', async () => {
  const { sw, clock, forwarder, vms } = await lab(3, { agingMs: 1000 });
  const [a, b, c] = vms as [typeof vms[0], typeof vms[0], typeof vms[0]];
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  clock.advance(800);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]); // refresh
  clock.advance(800);
  sw.ingress(b.portId, 0, [ethFrame(a.mac, b.mac)]);
  assert.equal(c.sink.frames.length, 2, 'still learned: not flooded to c');
  clock.advance(1001);
  assert.equal(forwarder.lookup(0, a.mac), undefined);
  sw.ingress(b.portId, 0, [ethFrame(a.mac, b.mac)]);
  assert.equal(c.sink.frames.length, 3, 'aged out: flooded again');
  assert.equal(a.sink.frames.length, 2);
  forwarder.sweep(clock.now());
  const left = forwarder.entries();
  assert.ok(left.length > 0, 'b stays learned (every() on an empty table would pass)');
  assert.ok(left.every((e) => e.portId === b.portId));
});

test("a port's entries are flushed when its NIC disconnects and when the port goes", async () => {
  const { sw, forwarder, vms } = await lab(3);
  const [a, b] = vms as [typeof vms[0], typeof vms[0]];
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac), ethFrame(BROADCAST, mac(0x61))]);
  sw.ingress(b.portId, 0, [ethFrame(BROADCAST, b.mac)]);
  assert.equal(forwarder.entryCount, 3);
  await sw.disconnectNic(a.portId, 0);
  assert.equal(forwarder.entryCount, 1);
  assert.equal(forwarder.lookup(0, a.mac), undefined);
  await sw.connectNic(a.portId, 0);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  assert.equal(forwarder.entryCount, 2);
  await sw.stopPort(a.portId);
  assert.deepEqual(forwarder.entries().map((e) => e.portId), [b.portId]);
});

test('a full table learns nothing new (those frames flood) until entries age out', async () => {
  const { sw, clock, forwarder, vms } = await lab(3, { maxEntries: 2, agingMs: 5000 });
  const [a, b, c] = vms as [typeof vms[0], typeof vms[0], typeof vms[0]];
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  sw.ingress(b.portId, 0, [ethFrame(BROADCAST, b.mac)]);
  sw.ingress(c.portId, 0, [ethFrame(BROADCAST, c.mac)]);
  assert.equal(forwarder.entryCount, 2);
  assert.equal(forwarder.tableFullMisses, 1);
  assert.equal(forwarder.lookup(0, c.mac), undefined);
  const before = b.sink.frames.length;
  sw.ingress(a.portId, 0, [ethFrame(c.mac, a.mac)]);
  assert.equal(b.sink.frames.length, before + 1, 'unknown c floods');
  clock.advance(6000);
  sw.ingress(c.portId, 0, [ethFrame(BROADCAST, c.mac)]);
  assert.equal(forwarder.lookup(0, c.mac)!.portId, c.portId);
  assert.equal(forwarder.entryCount, 1);
});
