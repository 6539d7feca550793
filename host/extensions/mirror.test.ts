import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../switch.ts';
import { PortMirror } from './mirror.ts';
import type { MirrorSession } from './mirror.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, attachVm, ethFrame } from '../testing.ts';

async function mirrorLab(session: (ids: { a: number; b: number; c: number; m: number }) => Omit<MirrorSession, 'to'>) {
  const mirror = new PortMirror();
  const sw = new Switch({ extensions: [mirror, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  const c = await attachVm(sw, 3);
  const m = await attachVm(sw, 9);
  mirror.setSessions([{ ...session({ a: a.portId, b: b.portId, c: c.portId, m: m.portId }), to: { portId: m.portId, nicIndex: 0 } }]);
  // Teach the forwarder every address so unicast does not flood to the mirror port by itself.
  for (const vm of [a, b, c, m]) sw.ingress(vm.portId, 0, [ethFrame(BROADCAST, vm.mac)]);
  for (const vm of [a, b, c, m]) vm.sink.clear();
  return { sw, mirror, a, b, c, m };
}

test('mirroring by source port copies that port\'s frames to the mirror port', async () => {
  const { sw, mirror, a, b, c, m } = await mirrorLab(({ a }) => ({ sourcePorts: [a] }));
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac, { seq: 1 }), ethFrame(c.mac, a.mac, { seq: 2 })]);
  sw.ingress(b.portId, 0, [ethFrame(c.mac, b.mac, { seq: 3 })]);
  assert.equal(b.sink.frames.length, 1);
  assert.equal(c.sink.frames.length, 2);
  assert.deepEqual(m.sink.frames.map((f) => new DataView(f.data.buffer).getUint32(14)), [1, 2]);
  assert.equal(mirror.counters()[0]!.mirrored, 2);
});

test('mirroring by destination port copies frames going to that port', async () => {
  const { sw, a, b, c, m } = await mirrorLab(({ c }) => ({ destinationPorts: [c] }));
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac, { seq: 1 }), ethFrame(c.mac, a.mac, { seq: 2 })]);
  sw.ingress(b.portId, 0, [ethFrame(c.mac, b.mac, { seq: 3 })]);
  assert.deepEqual(m.sink.frames.map((f) => new DataView(f.data.buffer).getUint32(14)), [2, 3]);
  // The counters add up: mirror copies are originated frames, delivered once.
  const s = sw.counters();
  assert.equal(s.injectedFrames, 2);
  assert.equal(s.ingressFrames, s.droppedFrames + s.forwardedFrames);
});

test('mirroring by VLAN copies frames of that VLAN only; a flood already reaching the mirror port is not doubled', async () => {
  const { sw, mirror, a, b, c, m } = await mirrorLab(() => ({ vlans: [7] }));
  await sw.addPortProperty(a.portId, { type: 'vlan', mode: 'access', vlanId: 7 });
  await sw.addPortProperty(b.portId, { type: 'vlan', mode: 'access', vlanId: 7 });
  await sw.addPortProperty(c.portId, { type: 'vlan', mode: 'access', vlanId: 8 });
  await sw.addPortProperty(m.portId, { type: 'vlan', mode: 'trunk', allowed: [7, 8] });
  // VLAN changes flush learned entries: teach b again, then watch the mirror port only.
  sw.ingress(b.portId, 0, [ethFrame(BROADCAST, b.mac)]);
  m.sink.clear();
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac, { seq: 1 }), ethFrame(BROADCAST, a.mac, { seq: 2 })]);
  sw.ingress(c.portId, 0, [ethFrame(BROADCAST, c.mac, { seq: 3 })]);
  const seqs = m.sink.frames.map((f) => new DataView(f.data.buffer).getUint32(18));
  assert.deepEqual(seqs.sort(), [1, 2, 3]);
  assert.equal(mirror.counters()[0]!.mirrored, 1, 'only the unicast needed a copy; broadcasts reach the trunk anyway');
  // On the trunk mirror port frames carry their VLAN tag.
  assert.deepEqual(m.sink.frames.map((f) => [f.data[12], f.data[15]]), [[0x81, 7], [0x81, 7], [0x81, 8]]);
});
