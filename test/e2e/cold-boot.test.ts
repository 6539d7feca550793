// The cold-boot option: a VM booted from the kernel and initramfs in its
// worker gets its identity from the kernel command line and joins the switch
// in the seed's order, NIC_CONNECT only once the guest's driver is up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addVm, bootedFrom, openLab, startVm, typeInto, waitForTerminal } from './browser.ts';

test('a cold-booted VM: identity from the command line, ports created while it boots, NIC_CONNECT when the driver binds', { timeout: 400_000 }, async () => {
  const lab = await openLab({ templates: 'none' });
  try {
    const { page } = lab;
    await addVm(page, 'a', 'virtio', 'cold');
    await startVm(page, 'a');
    // The ports exist while the guest is still booting, its NIC not yet connected.
    await page.waitForSelector('#ports tbody tr[data-port="1"][data-nic-state="created"]', { timeout: 60_000 });
    assert.equal(await page.$eval('.vm[data-name="a"]', (e) => (e as HTMLElement).dataset.state), 'starting');
    await waitForTerminal(page, 'a', /^a:~# /m, 300_000);
    const from = (await bootedFrom(page, 'a'))[0];
    assert.equal(from, 'cold');
    await page.waitForSelector('#ports tbody tr[data-port="1"][data-nic-state="connected"]', { timeout: 10_000 });
    const oids = await page.$$eval('#timeline li', (items) => items.map((li) => (li as HTMLElement).dataset.oid));
    assert.deepEqual(oids, ['PORT_CREATE', 'NIC_CREATE', 'NIC_CONNECT']);

    await typeInto(page, 'a', 'hostname; ip -4 addr show eth0 | grep inet; cat /etc/hosts\n');
    // Wait for the last thing the command prints (the hosts file): under load the terminal shows the output in pieces.
    const text = await waitForTerminal(page, 'a', /10\.0\.0\.1\s+a\b/, 30_000);
    assert.match(text, /^a$/m);
    assert.match(text, /inet 10\.0\.0\.1\/24/);
    // The MAC the Lab gave eth0 (salted by the lab's id, so two labs joined by an uplink differ), as the panel shows it.
    const mac = await page.evaluate(() => (window as unknown as { vmswitch: { lab: { ports(): { mac: string }[] } } }).vmswitch.lab.ports()[0]?.mac);
    assert.match(mac ?? '', /^02(:[0-9a-f]{2}){5}$/);
    assert.equal(await page.$eval('#ports tbody tr[data-port="1"] .sub', (e) => e.textContent ?? ''), `synthetic · ${mac}`);
    assert.deepEqual(lab.problems, []);
  } finally {
    await lab.close();
  }
});
