// What VirtualMachine.start refuses before starting anything, and default MACs.
// (Booting is covered by test/guest/runtime.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualMachine, defaultMac } from './vm.ts';
import { parseMac } from './net/frame.ts';

test('default MACs are locally administered unicast, stable per name and NIC, random without a name', () => {
  for (const mac of [defaultMac('a', 0), defaultMac(undefined, 0)]) {
    const first = parseMac(mac)[0]!;
    assert.equal(first & 0x02, 0x02, 'locally administered');
    assert.equal(first & 0x01, 0, 'unicast');
  }
  assert.equal(defaultMac('a', 0), defaultMac('a', 0));
  assert.notEqual(defaultMac('a', 0), defaultMac('a', 1));
  assert.notEqual(defaultMac('a', 0), defaultMac('b', 0));
  assert.notEqual(defaultMac(undefined, 0), defaultMac(undefined, 0));
});

test('bad options are refused with a clear error before anything starts', async () => {
  const image = { dir: '/nonexistent', kernel: '/nonexistent/k', initrd: '/nonexistent/i', bios: '/nonexistent/b', vgaBios: '/nonexistent/v' } as never;
  await assert.rejects(VirtualMachine.start({ image, hostname: 'a b' }), /bad hostname/);
  await assert.rejects(VirtualMachine.start({ image, memoryMiB: 64 }), /memory must be 80-2048 MiB, not 64/);
  await assert.rejects(VirtualMachine.start({ image, memoryMiB: 100.5 }), /memory must be/);
  await assert.rejects(VirtualMachine.start({ image, ip: ['10.0.0.1/24; reboot'] }), /bad address/);
  await assert.rejects(VirtualMachine.start({ image, hosts: { "x'y": '10.0.0.1' } }), /bad host name/);
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'ne2k' as never }] }), /unknown NIC model 'ne2k'/);
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000', mac: '02:00:00:00:00' }] }), /not a MAC address/);
});
