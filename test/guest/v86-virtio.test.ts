// The benchmark baseline is real: two VMs with v86's OWN virtio-net (NIC
// model 'v86-virtio') on a plain wire ping each other; the guest binds
// virtio_net with our MAC, the model sees DRIVER_OK, and a second
// v86-virtio NIC in one VM is refused before anything starts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualMachine } from '../../emulator/vm.ts';
import { connectWire, type WireHandle } from '../../emulator/net/wire.ts';
import { formatMac } from '../../emulator/net/frame.ts';

let a: VirtualMachine;
let b: VirtualMachine;
let wire: WireHandle;

async function sh(vm: VirtualMachine, command: string, timeoutMs = 60_000): Promise<string> {
  const result = await vm.exec(command, { timeoutMs });
  assert.equal(result.exitCode, 0, `${command}\n${result.output}`);
  return result.output;
}

before(async () => {
  const nics = [{ model: 'v86-virtio' as const, mac: '02:86:00:00:00:0a' }];
  a = await VirtualMachine.start({ name: 'v86a', template: true, nics, ip: ['10.86.0.1/24'] });
  b = await VirtualMachine.start({ name: 'v86b', template: true, nics: [{ model: 'v86-virtio', mac: '02:86:00:00:00:0b' }], ip: ['10.86.0.2/24'] });
  wire = connectWire(a.nics[0]!, b.nics[0]!);
});

after(async () => {
  wire?.disconnect();
  await a?.stop();
  await b?.stop();
});

test('the guest binds v86 virtio-net with our MAC and the model sees DRIVER_OK', async () => {
  const driver = await sh(a, 'basename $(readlink /sys/class/net/eth0/device/driver)');
  assert.equal(driver.trim(), 'virtio_net');
  assert.equal((await sh(a, 'cat /sys/class/net/eth0/address')).trim(), '02:86:00:00:00:0a');
  assert.equal(formatMac(a.nics[0]!.mac), '02:86:00:00:00:0a');
  assert.equal(a.nics[0]!.model, 'v86-virtio');
  assert.equal(a.nics[0]!.driverReady, true);
  assert.equal(a.nics[0]!.rxOffloads.csum, false);
});

test('two v86-virtio VMs on a plain wire ping each other', async () => {
  const before = { aTx: a.nics[0]!.counters.txFrames, bRx: b.nics[0]!.counters.rxFrames };
  const out = await sh(a, 'ping -c 5 -i 0.2 -W 5 10.86.0.2');
  assert.match(out, /5 packets received/);
  assert.match(await sh(b, 'ping -c 3 -i 0.2 -W 5 10.86.0.1'), /3 packets received/);
  assert.ok(a.nics[0]!.counters.txFrames - before.aTx >= 5);
  assert.ok(b.nics[0]!.counters.rxFrames - before.bRx >= 5);
});

test('a second v86-virtio NIC in one VM is refused clearly', async () => {
  await assert.rejects(
    VirtualMachine.start({ name: 'two', nics: [{ model: 'v86-virtio' }, { model: 'v86-virtio' }] }),
    /only one virtio-net per VM/,
  );
});
