// The library shape of the lab: VirtualMachine.start({ nics: [{ model, switch, ip }] })
// with real guests from template snapshots on one Switch. The cases run in
// order: start lifecycle, ping both ways, b stopped from the host under
// traffic, a powered off from inside, then a vetoed start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../../host/switch.ts';
import { NicAttachError, SwitchPortAttachment } from '../../host/attach.ts';
import type { Extension } from '../../host/extension.ts';
import type { OidEvent } from '../../host/events.ts';
import { VirtualMachine } from '../../emulator/vm.ts';
import { sh } from './shell.ts';

const hosts = { a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' };
const START = ['PORT_CREATE:success', 'NIC_CREATE:success', 'NIC_CONNECT:success'];
const STOP = ['NIC_DISCONNECT:success', 'NIC_DELETE:success', 'PORT_TEARDOWN:success', 'PORT_DELETE:success'];
let sw: Switch;
const oids: OidEvent[] = [];
let a: VirtualMachine | undefined;
let b: VirtualMachine | undefined;

function portOf(vm: VirtualMachine): number {
  const attachment = vm.attachments[0];
  assert.ok(attachment instanceof SwitchPortAttachment, `${vm.name} eth0 is on a switch port`);
  return attachment.portId;
}

function oidsOf(portId: number, since = 0): string[] {
  return oids
    .slice(since)
    .filter((e) => e.portId === portId)
    .map((e) => `${e.oid.replace('OID_SWITCH_', '')}:${e.status}`);
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

before(async () => {
  sw = new Switch({ name: 'lab' });
  sw.on('oid', (e) => oids.push(e));
  const log = (line: string): void => console.log(`# ${line}`);
  a = await VirtualMachine.start({ name: 'a', template: true, nics: [{ model: 'e1000', switch: sw, ip: '10.0.0.1/24' }], hosts, log });
  b = await VirtualMachine.start({ name: 'b', template: true, nics: [{ model: 'virtio', switch: sw, ip: '10.0.0.2/24' }], hosts, log });
});

after(async () => {
  await a?.stop().catch(() => undefined);
  await b?.stop().catch(() => undefined);
});

test('each start ran PORT_CREATE, NIC_CREATE, NIC_CONNECT on its own port before start() resolved', () => {
  const [pa, pb] = [portOf(a!), portOf(b!)];
  assert.notEqual(pa, pb);
  assert.deepEqual(oidsOf(pa), START);
  assert.deepEqual(oidsOf(pb), START);
  assert.equal(sw.port(pa)?.type, 'emulated');
  assert.equal(sw.port(pb)?.type, 'synthetic');
  assert.equal(a!.attachments[0]!.label, `port ${pa}`);
  assert.deepEqual(
    sw.ports().map((p) => p.name),
    ['a/eth0', 'b/eth0'],
  );
});

test('a pings b and b pings a by name through the switch', async () => {
  assert.match(await sh(a!, 'ping -c 3 -W 5 b'), /3 packets received/);
  assert.match(await sh(b!, 'ping -c 3 -W 5 a'), /3 packets received/);
  assert.ok(sw.counters(portOf(a!)).txPackets >= 6 && sw.counters(portOf(b!)).txPackets >= 6, JSON.stringify(sw.ports().map((p) => p.counters)));
});

test("b.stop() under traffic runs the seed's stop order for b's port, and nothing reaches b after NIC_DISCONNECT", async () => {
  const port = portOf(b!);
  const bNic = b!.nics[0]!;
  let atDisconnect: { tx: number; rx: number } | undefined;
  let atTeardown: { tx: number; rx: number } | undefined;
  const off = sw.on('oid', (e) => {
    if (e.portId !== port) return;
    // The port still exists at these events: its counters can be read.
    if (e.oid === 'OID_SWITCH_NIC_DISCONNECT') atDisconnect = { tx: sw.counters(port).txPackets, rx: bNic.counters.rxFrames };
    if (e.oid === 'OID_SWITCH_PORT_TEARDOWN') atTeardown = { tx: sw.counters(port).txPackets, rx: bNic.counters.rxFrames };
  });
  const since = oids.length;
  const before = sw.counters(port).txPackets;
  const flood = a!.exec('ping -i 0.02 -w 8 -q b', { timeoutMs: 30_000 });
  try {
    for (let i = 0; i < 100 && sw.counters(port).txPackets - before < 20; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(sw.counters(port).txPackets - before >= 20, 'the ping reached b before the stop');
    await b!.stop();
  } finally {
    off();
  }
  const flooded = await flood;
  assert.deepEqual(oidsOf(port, since), STOP);
  assert.ok(atDisconnect && atTeardown);
  assert.equal(atTeardown.tx, atDisconnect.tx, "the switch delivered nothing to b's port after NIC_DISCONNECT");
  assert.equal(atTeardown.rx, atDisconnect.rx, "b's NIC received nothing after NIC_DISCONNECT");
  assert.equal(bNic.counters.rxFrames, atDisconnect.rx);
  assert.deepEqual(await b!.ended, { reason: 'stopped' });
  assert.equal(sw.port(port), undefined);
  // The sender saw b go; a keeps running on the switch.
  const stats = /(\d+) packets transmitted, (\d+) packets received/.exec(flooded.output);
  assert.ok(stats && Number(stats[2]) < Number(stats[1]), flooded.output);
  assert.notEqual((await a!.exec('ping -c 1 -W 2 b')).exitCode, 0);
  assert.equal(sw.nic(portOf(a!), 0)?.state, 'connected');
});

test("a poweroff inside a runs the same stop order for a's port", async () => {
  const port = portOf(a!);
  const since = oids.length;
  // The shell may end before the command returns: that is the point.
  const pending = a!.exec('poweroff', { timeoutMs: 60_000 }).catch(() => undefined);
  const end = await within(a!.ended, 60_000, 'a did not end after poweroff');
  await pending;
  assert.equal(end.reason, 'poweroff');
  assert.equal(end.error, undefined);
  assert.equal(a!.isStopped, true);
  // The guest's kernel shuts its driver down before it powers off: a status change on the same port (NIC_UPDATED) may come first.
  const seen = oidsOf(port, since);
  const driverDown = seen.length - STOP.length;
  assert.ok(driverDown >= 0 && seen.slice(0, driverDown).every((s) => s === 'NIC_UPDATED:success'), seen.join(' '));
  assert.deepEqual(seen.slice(driverDown), STOP);
  assert.deepEqual(sw.ports(), []);
  // stop() afterwards is harmless and runs nothing more.
  await a!.stop();
  assert.deepEqual(oidsOf(port, since), seen);
});

test('an extension vetoing NIC_CREATE fails the start naming it, leaves no port, and stops the VM', async () => {
  const veto: Extension = {
    name: 'no-new-nics',
    kind: 'filter',
    oidRequest: (request) => (request.oid === 'OID_SWITCH_NIC_CREATE' ? { veto: 'no new NICs today' } : undefined),
  };
  sw.addExtension(veto);
  const since = oids.length;
  const resourcesBefore = process.getActiveResourcesInfo().sort();
  let guestNic: import('../../emulator/net/nic.ts').GuestNic | undefined;
  try {
    await assert.rejects(
      VirtualMachine.start({
        name: 'c',
        template: true,
        hosts,
        nics: [{ model: 'virtio', ip: '10.0.0.3/24', switch: { attachNic: (nic, info) => ((guestNic = nic), sw.attachNic(nic, info)) } }],
      }),
      (error: unknown) => {
        assert.ok(error instanceof NicAttachError, String(error));
        assert.equal(error.vetoedBy, 'no-new-nics');
        assert.match(error.message, /c\/eth0.*NIC_CREATE vetoed by extension 'no-new-nics'/);
        return true;
      },
    );
  } finally {
    sw.removeExtension('no-new-nics');
  }
  assert.ok(guestNic, 'the VM came up and its NIC tried to join');
  assert.deepEqual(sw.ports(), []);
  const mine = oids.slice(since).map((e) => `${e.oid.replace('OID_SWITCH_', '')}:${e.status}`);
  assert.deepEqual(mine, ['PORT_CREATE:success', 'NIC_CREATE:vetoed', 'PORT_TEARDOWN:success', 'PORT_DELETE:success']);
  // The VM is gone: nothing it started (emulator timers, handles) is still active.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(process.getActiveResourcesInfo().sort(), resourcesBefore);
});
