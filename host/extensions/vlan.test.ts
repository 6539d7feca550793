import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../switch.ts';
import { OidError } from '../oid.ts';
import { frameTci } from './vlan.ts';
import { BROADCAST, attachVm, ethFrame } from '../testing.ts';

async function vlanLab(withForwarder = true) {
  const sw = new Switch(withForwarder ? {} : { extensions: [] });
  const access10 = await attachVm(sw, 1);
  const access10b = await attachVm(sw, 2);
  const access20 = await attachVm(sw, 3);
  const trunk = await attachVm(sw, 4);
  const plain = await attachVm(sw, 5);
  await sw.addPortProperty(access10.portId, { type: 'vlan', mode: 'access', vlanId: 10 });
  await sw.addPortProperty(access10b.portId, { type: 'vlan', mode: 'access', vlanId: 10 });
  await sw.addPortProperty(access20.portId, { type: 'vlan', mode: 'access', vlanId: 20 });
  await sw.addPortProperty(trunk.portId, { type: 'vlan', mode: 'trunk', allowed: [10, 20], nativeVlanId: 99 });
  return { sw, access10, access10b, access20, trunk, plain };
}

for (const withForwarder of [true, false]) {
  const who = withForwarder ? 'MAC-learning forwarder' : 'switch alone';
  test(`VLAN access ports (${who}): frames stay in their VLAN, leave untagged to access, tagged to the trunk`, async () => {
    const { sw, access10, access10b, access20, trunk, plain } = await vlanLab(withForwarder);
    sw.ingress(access10.portId, 0, [ethFrame(BROADCAST, access10.mac, { seq: 1 })]);
    assert.equal(access10b.sink.frames.length, 1);
    assert.equal(access20.sink.frames.length, 0);
    assert.equal(plain.sink.frames.length, 0);
    assert.equal(frameTci(access10b.sink.frames[0]!.data), -1, 'untagged on the access port');
    assert.equal(trunk.sink.frames.length, 1);
    const tagged = trunk.sink.frames[0]!.data;
    assert.equal(frameTci(tagged) & 0xfff, 10);
    assert.equal(tagged.length, 68);
    assert.equal(new DataView(tagged.buffer).getUint32(18), 1, 'payload intact after the tag');
    // A tagged frame from an access port is dropped.
    sw.ingress(access10.portId, 0, [ethFrame(BROADCAST, access10.mac, { vlan: 20 })]);
    assert.equal(sw.counters(access10.portId).drops['vlan-tagged-on-access-port'], 1);
    // Priority-tagged (VID 0) counts as untagged.
    sw.ingress(access10.portId, 0, [ethFrame(BROADCAST, access10.mac, { vlan: 0 })]);
    assert.equal(access10b.sink.frames.length, 2);
    assert.equal(frameTci(access10b.sink.frames[1]!.data), -1);
  });

  test(`VLAN trunk port (${who}): allowed tags in, tag stripped toward access ports, native VLAN untagged, others dropped`, async () => {
    const { sw, access10, access20, trunk, plain } = await vlanLab(withForwarder);
    sw.ingress(trunk.portId, 0, [ethFrame(BROADCAST, trunk.mac, { vlan: 20, seq: 7 })]);
    assert.equal(access20.sink.frames.length, 1);
    assert.equal(access10.sink.frames.length, 0);
    const out = access20.sink.frames[0]!.data;
    assert.equal(frameTci(out), -1);
    assert.equal(out.length, 60);
    assert.equal(new DataView(out.buffer).getUint32(14), 7, 'payload intact after the tag is removed');
    sw.ingress(trunk.portId, 0, [ethFrame(BROADCAST, trunk.mac, { vlan: 30 })]);
    assert.equal(sw.counters(trunk.portId).drops['vlan-not-allowed'], 1);
    // Untagged on the trunk: the native VLAN 99, which no access port carries.
    sw.ingress(trunk.portId, 0, [ethFrame(BROADCAST, trunk.mac)]);
    assert.equal(sw.counters(trunk.portId).drops['no-destination'], 1);
    assert.equal(plain.sink.frames.length, 0);
  });
}

test('VLAN properties the forwarder cannot enforce are vetoed by it; the switch alone refuses them too', async () => {
  const sw = new Switch();
  const a = await attachVm(sw, 1);
  await assert.rejects(
    sw.addPortProperty(a.portId, { type: 'vlan', mode: 'private', primaryVlanId: 10, secondaryVlanId: 11, pvlanMode: 'isolated' }),
    (e: unknown) => e instanceof OidError && e.status === 'vetoed' && e.vetoedBy === 'mac-learning' && /private VLANs/.test(e.message),
  );
  await assert.rejects(sw.addPortProperty(a.portId, { type: 'vlan', mode: 'access', vlanId: 4095 }), /not in 1..4094/);
  await assert.rejects(sw.addPortProperty(a.portId, { type: 'vlan', mode: 'trunk', allowed: [] }), /non-empty/);
  assert.deepEqual(sw.ports()[0]!.properties, []);
  const bare = new Switch({ extensions: [] });
  const b = await attachVm(bare, 1);
  await assert.rejects(bare.addPortProperty(b.portId, { type: 'vlan', mode: 'access', vlanId: 0 }), (e: unknown) => e instanceof OidError && e.vetoedBy === 'switch');
  // Update and delete go back and forth.
  await sw.addPortProperty(a.portId, { type: 'vlan', mode: 'access', vlanId: 5 });
  await sw.updatePortProperty(a.portId, { type: 'vlan', mode: 'access', vlanId: 6 });
  assert.equal(sw.port(a.portId)!.vlan.accessVlan, 6);
  await sw.deletePortProperty(a.portId, { type: 'vlan', mode: 'access', vlanId: 6 });
  assert.equal(sw.port(a.portId)!.vlan.mode, 'none');
});

test('tag insertion and removal shift checksum and GSO offsets', async () => {
  const sw = new Switch();
  const trunk = await attachVm(sw, 1);
  const access = await attachVm(sw, 2);
  await sw.addPortProperty(trunk.portId, { type: 'vlan', mode: 'trunk', allowed: [10] });
  await sw.addPortProperty(access.portId, { type: 'vlan', mode: 'access', vlanId: 10 });
  const frame = ethFrame(BROADCAST, access.mac, { length: 3000 });
  sw.ingress(access.portId, 0, [{ ...frame, csum: { start: 34, offset: 16 }, gso: { type: 'tcp4', segmentSize: 1000, headerLength: 54 } }]);
  const out = trunk.sink.frames[0]!;
  assert.equal(out.csum!.start, 38);
  assert.equal(out.gso!.headerLength, 58);
  sw.ingress(trunk.portId, 0, [{ data: out.data, csum: out.csum!, gso: out.gso! }]);
  const back = access.sink.frames[0]!;
  assert.equal(back.csum!.start, 34);
  assert.equal(back.gso!.headerLength, 54);
  assert.deepEqual(back.data, frame.data);
});

test('a port created with a VLAN property that is vetoed is deleted again', async () => {
  const sw = new Switch();
  const oids: string[] = [];
  sw.on('oid', (e) => oids.push(`${e.oid} ${e.status}`));
  await assert.rejects(
    sw.createPort({ type: 'synthetic', id: 4, properties: [{ type: 'vlan', mode: 'private', primaryVlanId: 2, secondaryVlanId: 3, pvlanMode: 'community' }] }),
    /private VLANs are not supported/,
  );
  assert.equal(sw.port(4), undefined);
  assert.deepEqual(oids, [
    'OID_SWITCH_PORT_CREATE success',
    'OID_SWITCH_PORT_PROPERTY_ADD vetoed',
    'OID_SWITCH_PORT_TEARDOWN success',
    'OID_SWITCH_PORT_DELETE success',
  ]);
  const ok = await sw.createPort({ type: 'synthetic', properties: [{ type: 'vlan', mode: 'access', vlanId: 12 }] });
  assert.equal(sw.port(ok.id)!.vlan.accessVlan, 12);
});
