// The browser lab end to end: two real guests in Web Workers on the page's
// switch, driven through the page like a user would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addVm, bootedFrom, openLab, startVm, terminalText, typeInto, waitFor, waitForTerminal } from './browser.ts';
import { icmpEchoes, readPcapng } from './pcapng-reader.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const BOOT_TIMEOUT_MS = 300_000;

interface TimelineEntry {
  oid: string;
  port: number;
  status: string;
}

async function portOf(page: import('puppeteer').Page, vm: string): Promise<number> {
  return page.evaluate((name) => {
    const lab = (window as unknown as { vmswitch: { lab: { vm(n: string): { portIds: number[] } | undefined } } }).vmswitch.lab;
    return lab.vm(name)?.portIds[0] ?? -1;
  }, vm);
}

async function timeline(page: import('puppeteer').Page): Promise<TimelineEntry[]> {
  return page.$$eval('#timeline li', (items) =>
    items.map((li) => ({ oid: (li as HTMLElement).dataset.oid!, port: Number((li as HTMLElement).dataset.port), status: (li as HTMLElement).dataset.status! })),
  );
}

test('two VMs ping through the page switch; stopping one runs the seed stop lifecycle; the capture downloads', { timeout: 600_000 }, async () => {
  const lab = await openLab();
  try {
    const { page } = lab;
    await addVm(page, 'a', 'e1000');
    await addVm(page, 'b', 'virtio');
    await startVm(page, 'a');
    await startVm(page, 'b');
    await waitForTerminal(page, 'a', /^a:~# /m, BOOT_TIMEOUT_MS);
    await waitForTerminal(page, 'b', /^b:~# /m, BOOT_TIMEOUT_MS);

    // Fast start: both came from the template snapshots the Node side made.
    const from = await bootedFrom(page, 'a', 'b');
    assert.deepEqual(from, ['snapshot', 'snapshot']);
    // Personalised after the restore: own hostname (in the prompts above) and own MACs.
    const macs = await waitFor('two ports in the panel', async () => {
      const cells = await page.$$eval('#ports tbody tr[data-port] .sub', (list) => list.map((c) => c.textContent ?? ''));
      return cells.length === 2 && cells;
    }, 10_000);
    assert.equal(new Set(macs.map((m) => m.split(' · ')[1])).size, 2, macs.join(' / '));

    const portA = await portOf(page, 'a');
    const portB = await portOf(page, 'b');
    assert.ok(portA > 0 && portB > 0 && portA !== portB, `ports ${portA}, ${portB}`);
    // Both joined as the seed says: PORT_CREATE, NIC_CREATE, NIC_CONNECT each.
    await waitFor('both NICs connected in the panel', async () => {
      const states = await page.$$eval('#ports tbody tr[data-port]', (rows) => rows.map((r) => [(r as HTMLElement).dataset.port, (r as HTMLElement).dataset.nicState] as const));
      const byPort = new Map(states);
      return byPort.get(String(portA)) === 'connected' && byPort.get(String(portB)) === 'connected';
    }, 30_000);
    for (const port of [portA, portB]) {
      const oids = (await timeline(page)).filter((e) => e.port === port).map((e) => e.oid);
      assert.deepEqual(oids.slice(0, 3), ['PORT_CREATE', 'NIC_CREATE', 'NIC_CONNECT'], `port ${port}: ${oids.join(' ')}`);
    }
    const typesA = await page.$eval(`#ports tr[data-port="${portA}"] .sub`, (e) => e.textContent);
    const typesB = await page.$eval(`#ports tr[data-port="${portB}"] .sub`, (e) => e.textContent);
    assert.match(typesA!, /^emulated/);
    assert.match(typesB!, /^synthetic/);

    await typeInto(page, 'a', 'ping -c 3 b\n');
    const pinged = await waitForTerminal(page, 'a', /3 packets transmitted, 3 packets received/, 90_000);
    assert.match(pinged, /PING b \(10\.0\.0\.2\)/);

    // The frames list shows the exchange with one-line summaries.
    const summaries = await page.$$eval('#frames tbody tr[data-type="ICMP"] .summary', (cells) => cells.map((c) => c.textContent ?? ''));
    assert.ok(summaries.some((s) => /10\.0\.0\.1 → 10\.0\.0\.2 echo request/.test(s)), summaries.join('\n'));
    assert.ok(summaries.some((s) => /10\.0\.0\.2 → 10\.0\.0\.1 echo reply/.test(s)), summaries.join('\n'));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'e2e-lab-ping.png') });

    // Per-port counters moved both ways.
    const counters = await page.evaluate((ports) => {
      const lab = (window as unknown as { vmswitch: { lab: { switch: { counters(p: number): { rxPackets: number; txPackets: number } } } } }).vmswitch.lab;
      return ports.map((p) => lab.switch.counters(p));
    }, [portA, portB]);
    for (const c of counters) assert.ok(c.rxPackets >= 3 && c.txPackets >= 3, JSON.stringify(c));

    // Stop b: the seed's stop order for its port.
    const before = (await timeline(page)).length;
    await page.click('.vm[data-name="b"] button.stop');
    await waitFor('PORT_DELETE of b', async () => (await timeline(page)).some((e) => e.port === portB && e.oid === 'PORT_DELETE'), 30_000);
    const stopOids = (await timeline(page)).slice(before).filter((e) => e.port === portB);
    assert.deepEqual(
      stopOids.map((e) => e.oid),
      ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE'],
    );
    assert.ok(stopOids.every((e) => e.status === 'success'));
    const rowB = await page.$eval(`#ports tr[data-port="${portB}"]`, (r) => [(r as HTMLElement).dataset.portState, (r as HTMLElement).dataset.nicState]);
    assert.deepEqual(rowB, ['deleted', 'deleted']);
    await page.waitForSelector('.vm[data-name="b"][data-state="stopped"]');

    // With b gone, a's pings go unanswered (the switch keeps running, a's port stays connected).
    await typeInto(page, 'a', 'ping -c 1 -W 2 b\n');
    await waitForTerminal(page, 'a', /1 packets transmitted, 0 packets received/, 30_000);

    // The capture, downloaded through the page's button.
    await page.click('#download-pcap');
    const file = await waitFor(
      'the pcapng download',
      async () => readdirSync(lab.downloadDir).find((f) => f.endsWith('.pcapng')),
      15_000,
    );
    const capture = readPcapng(new Uint8Array(readFileSync(join(lab.downloadDir, file))));
    assert.ok(capture.interfaces.length >= 2, `${capture.interfaces.length} interfaces`);
    assert.ok(capture.interfaces.every((i) => i.linkType === 1), 'Ethernet link type');
    const echoes = icmpEchoes(capture.packets);
    // busybox ping numbers from 0; the unanswered ping after the stop adds a request with no reply.
    const answered = new Set(
      echoes
        .filter((e) => e.type === 'request' && e.src === '10.0.0.1' && e.dst === '10.0.0.2')
        .filter((r) => echoes.some((e) => e.type === 'reply' && e.src === '10.0.0.2' && e.dst === '10.0.0.1' && e.seq === r.seq))
        .map((e) => e.seq),
    );
    assert.ok(answered.size >= 3, `answered echo requests in the capture: ${[...answered].join(', ')} (${echoes.length} echo records)`);

    // The guest's own poweroff stops its VM the same way.
    const beforePoweroff = (await timeline(page)).length;
    // -f: the image's /init is a shell, which ignores the signal plain poweroff sends to PID 1.
    await typeInto(page, 'a', 'poweroff -f\n');
    await waitFor('PORT_DELETE of a after its poweroff', async () => (await timeline(page)).some((e) => e.port === portA && e.oid === 'PORT_DELETE'), 60_000);
    // The kernel shuts its drivers down first (NIC_UPDATED on the same port), then the stop lifecycle.
    const afterPoweroff = (await timeline(page)).slice(beforePoweroff).filter((e) => e.port === portA).map((e) => e.oid);
    assert.deepEqual(
      afterPoweroff.filter((oid) => oid !== 'NIC_UPDATED'),
      ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE'],
      afterPoweroff.join(' '),
    );
    assert.ok(afterPoweroff.lastIndexOf('NIC_UPDATED') < afterPoweroff.indexOf('NIC_DISCONNECT'), afterPoweroff.join(' '));
    // The guest's last words reached its terminal before the worker was stopped.
    assert.match(await terminalText(page, 'a'), /reboot: (System halted|Power down)/);
    await page.waitForSelector('.vm[data-name="a"][data-state="stopped"]');

    await page.screenshot({ path: join(ARTIFACTS, 'e2e-lab-stopped.png') });
    assert.deepEqual(lab.problems, [], 'the page logged errors');
  } finally {
    await lab.close();
  }
});
