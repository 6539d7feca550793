import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from './switch.ts';
import { Port } from './port.ts';
import { SwitchError } from './errors.ts';
import type { SwitchErrorCode } from './errors.ts';
import type { Extension, ExtensionContext } from './extension.ts';
import { checkMac, checkMtu, isValidMtu } from './validate.ts';
import { RecordingSink, attachVm, mac } from './testing.ts';

function isSwitchError(code: SwitchErrorCode, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SwitchError, String(error));
    assert.equal(error.name, 'SwitchError');
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

test('calls the switch refuses before any OID reject with a SwitchError whose code says why', async () => {
  const sw = new Switch();
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2, { connect: false });
  await assert.rejects(sw.connectNic(99, 0), isSwitchError('no-port', /no port 99/));
  await assert.rejects(sw.connectNic(a.portId, 5), isSwitchError('no-nic', /has no NIC 5/));
  await assert.rejects(sw.createPort({ type: 'generic', id: a.portId }), isSwitchError('port-exists', /exists/));
  await assert.rejects(sw.createNic(a.portId, { type: 'synthetic', mac: mac(9), sink: new RecordingSink() }), isSwitchError('nic-exists', /already has NIC 0/));
  await assert.rejects(sw.disconnectNic(b.portId, 0), isSwitchError('nic-state', /is created, not connected/));
  await assert.rejects(sw.teardownPort(a.portId), isSwitchError('port-has-nics', /delete its NICs/));
  await assert.rejects(sw.updatePortProperty(a.portId, { type: 'custom', name: 'x', value: 1 }), isSwitchError('no-property', /no custom:x property/));
  await sw.addPortProperty(a.portId, { type: 'custom', name: 'x', value: 1 });
  await assert.rejects(sw.addPortProperty(a.portId, { type: 'custom', name: 'x', value: 2 }), isSwitchError('property-exists', /already has a custom:x/));

  const ext = await sw.createPort({ type: 'external' });
  await sw.createNic(ext.id, { type: 'external', mac: mac(3), sink: new RecordingSink() });
  const other = await sw.createPort({ type: 'external' });
  await assert.rejects(sw.createNic(other.id, { type: 'external', mac: mac(4), sink: new RecordingSink() }), isSwitchError('nic-type-exists', /already has an external NIC/));
  await sw.stopPort(other.id);
  await assert.rejects(sw.teardownPort(other.id), isSwitchError('no-port', /no port/));
  await sw.stopPort(b.portId);
  const c = await sw.createPort({ type: 'generic' });
  await sw.teardownPort(c.id);
  await assert.rejects(sw.updatePort(c.id, { name: 'y' }), isSwitchError('port-state', /is teardown, not created/));
});

test('an extension whose attach throws is refused with a SwitchError carrying the cause; its context refuses bad references and queries', () => {
  const sw = new Switch();
  const boom = new Error('boom');
  const failing: Extension = { name: 'failing', kind: 'filter', attach: () => { throw boom; } };
  assert.throws(() => sw.addExtension(failing), (error: unknown) => {
    isSwitchError('extension-attach', /extension failing failed to attach: boom/)(error);
    assert.equal((error as SwitchError).cause, boom);
    return true;
  });
  assert.equal(sw.extension('failing'), undefined);

  let context!: ExtensionContext;
  sw.addExtension({ name: 'holder', kind: 'capture', attach: (ctx) => { context = ctx; } });
  assert.throws(() => context.referenceNic(1, 0), isSwitchError('no-nic', /is absent, not connected/));
  assert.throws(() => context.referencePort(1), isSwitchError('no-port', /port 1 is absent/));
  assert.throws(() => (context.query as (oid: string) => unknown)('OID_BOGUS'), isSwitchError('unknown-query', /unknown query OID OID_BOGUS/));
});

test('NIC MAC and MTU checks: one rule for createNic and updateNic', async () => {
  assert.ok(isValidMtu(68) && isValidMtu(1500) && isValidMtu(65535));
  assert.ok(!isValidMtu(67) && !isValidMtu(65536) && !isValidMtu(1500.5) && !isValidMtu('1500'));
  assert.throws(() => checkMtu(10, 'createNic'), { name: 'RangeError', message: 'createNic: MTU 10 must be 68..65535' });
  assert.throws(() => checkMac(new Uint8Array(5), 'updateNic'), { name: 'TypeError', message: 'updateNic: mac must be 6 bytes' });
  checkMac(new Uint8Array(6), 'x');
  checkMtu(9000, 'x');

  const sw = new Switch();
  const a = await attachVm(sw, 1);
  await assert.rejects(sw.updateNic(a.portId, 0, { mtu: 70000 }), { name: 'RangeError', message: 'updateNic: MTU 70000 must be 68..65535' });
  await assert.rejects(sw.updateNic(a.portId, 0, { mac: new Uint8Array(2) }), { name: 'TypeError', message: 'updateNic: mac must be 6 bytes' });
  await assert.rejects(sw.createNic(a.portId, { index: 1, type: 'synthetic', mac: mac(2), mtu: 65536, sink: new RecordingSink() }), {
    name: 'RangeError',
    message: 'createNic: MTU 65536 must be 68..65535',
  });
});

test('a port reference released more often than taken is a SwitchError', () => {
  const port = new Port(1, 'synthetic', 'p');
  port.reference();
  port.release();
  assert.throws(() => port.release(), isSwitchError('port-state', /port 1: reference released twice/));
});
