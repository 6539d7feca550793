// NicSpec.switch and NicSpec.ip: what VirtualMachine.start refuses before
// anything boots, and how per-NIC addresses become the guest's address list.
// (Starting VMs on a switch is covered by test/guest/vm-switch.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualMachine, nicAddresses } from './vm.ts';
import type { NicAttacher } from './net/nic.ts';

// An image that cannot boot: a validation that did not happen would fail later with ENOENT instead.
const image = { dir: '/nonexistent', kernel: '/nonexistent/k', initrd: '/nonexistent/i', bios: '/nonexistent/b', vgaBios: '/nonexistent/v' } as never;
const neverAttach: NicAttacher = {
  attachNic: () => Promise.reject(new Error('must not be reached')),
};

test('per-NIC addresses become the address list in NIC order, with "-" for a NIC without one', () => {
  assert.deepEqual(nicAddresses([{ model: 'e1000', ip: '10.0.0.1/24' }, { model: 'virtio' }, { model: 'virtio', ip: '10.0.1.3/16' }], undefined), [
    '10.0.0.1/24',
    '-',
    '10.0.1.3/16',
  ]);
  assert.deepEqual(nicAddresses([{ model: 'e1000' }], ['10.0.0.9/24']), ['10.0.0.9/24']);
  assert.equal(nicAddresses([{ model: 'e1000' }], undefined), undefined);
});

test('VmOptions.ip together with a NicSpec ip is refused before anything starts', async () => {
  await assert.rejects(
    VirtualMachine.start({ image, ip: ['10.0.0.1/24'], nics: [{ model: 'e1000', ip: '10.0.0.2/24' }] }),
    /either as VmOptions\.ip or as NicSpec\.ip on the NICs, not both/,
  );
});

test('a NicSpec ip that is not address/prefix is refused, naming the NIC', async () => {
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000' }, { model: 'virtio', ip: '10.0.0.2' }] }), /nics\[1\]\.ip must be an address with a prefix length/);
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000', ip: '-' }] }), /nics\[0\]\.ip/);
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000', ip: '10.0.0.1/24;reboot/8' }] }), /nics\[0\]\.ip/);
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000', ip: '10.0.0.1;reboot/24' }] }), /bad address/);
});

test('a NicSpec switch that cannot attach NICs is refused before anything starts', async () => {
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000', switch: {} as never }] }), /nics\[0\]\.switch must be a Switch/);
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'e1000', switch: null as never }] }), /nics\[0\]\.switch must be a Switch/);
  // A valid attacher is not called when the start fails earlier (here: the bad model).
  await assert.rejects(VirtualMachine.start({ image, nics: [{ model: 'ne2k' as never, switch: neverAttach }] }), /unknown NIC model 'ne2k'/);
});
