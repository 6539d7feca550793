// A Switch is a NicAttacher (what VirtualMachine.start plugs NICs into): its
// attachNic runs the start lifecycle and resolves after NIC_CONNECT of a ready NIC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from './switch.ts';
import { NicAttachError, SwitchPortAttachment, switchAttacher } from './attach.ts';
import type { Extension } from './extension.ts';
import type { OidEvent } from './events.ts';
import type { NicAttacher } from '../emulator/net/nic.ts';
import { ScriptedNic, mac } from './testing.ts';

function recordOids(sw: Switch): string[] {
  const log: string[] = [];
  sw.on('oid', (e: OidEvent) => log.push(`${e.oid.replace('OID_SWITCH_', '')}:${e.portId}${e.status === 'success' ? '' : `:${e.status}`}`));
  return log;
}

test('sw.attachNic on a driver-ready NIC resolves after PORT_CREATE, NIC_CREATE, NIC_CONNECT; detach runs the stop order', async () => {
  const sw = new Switch({ name: 'lab' });
  const attacher: NicAttacher = sw;
  const oids = recordOids(sw);
  const nic = new ScriptedNic('virtio', mac(1), true);
  const attachment = await attacher.attachNic(nic, { vmName: 'a', index: 0 });
  // No settling wait: the NIC_CONNECT must already have completed when attachNic resolves.
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1', 'NIC_CONNECT:1']);
  assert.ok(attachment instanceof SwitchPortAttachment);
  assert.equal(attachment.portId, 1);
  assert.equal(attachment.label, 'port 1');
  assert.equal(sw.nic(1, 0)?.state, 'connected');
  assert.equal(sw.port(1)?.name, 'a/eth0');

  await attachment.detach();
  assert.deepEqual(oids.slice(3), ['NIC_DISCONNECT:1', 'NIC_DELETE:1', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
  assert.equal(sw.ports().length, 0);
});

test('sw.attachNic on a NIC whose driver is not bound yet resolves after NIC_CREATE; NIC_CONNECT follows the driver', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const nic = new ScriptedNic('e1000', mac(2));
  const attachment = await sw.attachNic(nic, { vmName: 'b', index: 1 });
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1']);
  assert.equal(sw.port(1)?.name, 'b/eth1');
  nic.driver({ type: 'ready' });
  await attachment.settled();
  assert.deepEqual(oids.slice(2), ['NIC_CONNECT:1']);
});

test('a NIC_CREATE veto rejects attachNic with a NicAttachError naming the extension and leaves no port', async () => {
  const veto: Extension = {
    name: 'no-new-nics',
    kind: 'filter',
    oidRequest: (request) => (request.oid === 'OID_SWITCH_NIC_CREATE' ? { veto: 'closed' } : undefined),
  };
  const sw = new Switch({ extensions: [veto] });
  const oids = recordOids(sw);
  await assert.rejects(sw.attachNic(new ScriptedNic('e1000', mac(3), true), { vmName: 'c', index: 0 }), (error: unknown) => {
    assert.ok(error instanceof NicAttachError);
    assert.equal(error.vetoedBy, 'no-new-nics');
    assert.match(error.message, /c\/eth0.*NIC_CREATE vetoed by extension 'no-new-nics'/);
    return true;
  });
  assert.deepEqual(sw.ports(), []);
  assert.deepEqual(oids, ['PORT_CREATE:1', 'NIC_CREATE:1:vetoed', 'PORT_TEARDOWN:1', 'PORT_DELETE:1']);
});

test('switchAttacher adds port properties (a VLAN) and waits for NIC_CONNECT too', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const attacher = switchAttacher(sw, { properties: [{ type: 'vlan', mode: 'access', vlanId: 10 }] });
  await attacher.attachNic(new ScriptedNic('virtio', mac(4), true), { vmName: 'd', index: 0 });
  assert.deepEqual(oids, ['PORT_CREATE:1', 'PORT_PROPERTY_ADD:1', 'NIC_CREATE:1', 'NIC_CONNECT:1']);
});
