// `vmswitch web --shared` end to end: two real Chromium pages on one server,
// each with a real guest (template snapshot start) on its own page switch,
// both joined to the server's shared switch over WebSocket. Each VM pings the
// other; closing one page runs the stop order for its port on the server's
// switch (asserted from the server's own OID stream and /shared.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer';
import { startLabServer } from '../../web/lab-server.ts';
import { addVm, launchChromium, startVm, typeInto, waitFor, waitForTerminal } from './browser.ts';

const BOOT_TIMEOUT_MS = 300_000;

async function openPage(browser: Browser, url: string, problems: string[]): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message}`));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  return page;
}

interface PageView {
  page: number;
  ipBase: string;
}

const sharedHello = (page: Page) =>
  page.evaluate(() => {
    const shared = (window as unknown as { vmswitch: { shared?: { hello: { page: number; ipBase: string } } } }).vmswitch.shared;
    return shared ? { page: shared.hello.page, ipBase: shared.hello.ipBase } : undefined;
  }) as Promise<PageView | undefined>;

test('two pages on one `web --shared` server: a VM on each pings the other; closing a page runs its port\'s stop order on the server', { timeout: 900_000 }, async () => {
  const log: string[] = [];
  const server = await startLabServer({ port: 0, templates: 'wait', shared: true, log: (line) => log.push(line) });
  const shared = server.shared!;
  const oids: { oid: string; port: number }[] = [];
  shared.shared.switch.on('oid', (e) => oids.push({ oid: e.oid.replace('OID_SWITCH_', ''), port: e.portId }));
  const profile = mkdtempSync(join(tmpdir(), 'vmswitch-chromium-'));
  const problems: string[] = [];
  let browser: Browser | undefined;
  try {
    // Two tabs, both busy: no throttling of the one in the background.
    browser = await launchChromium(profile, ['--disable-renderer-backgrounding', '--disable-background-timer-throttling', '--disable-backgrounding-occluded-windows']);
    const one = await openPage(browser, server.url, problems);
    const two = await openPage(browser, server.url, problems);
    const helloOne = (await sharedHello(one))!;
    const helloTwo = (await sharedHello(two))!;
    assert.ok(helloOne && helloTwo, 'both pages joined the shared switch');
    assert.notEqual(helloOne.page, helloTwo.page);
    const status = async () => (await (await fetch(`${server.url}shared.json`)).json()) as { pages: { page: number; portId: number; state: string; counters: { rxFrames: number } }[]; drops: Record<string, number> };
    const joined = await status();
    assert.deepEqual(joined.pages.map((p) => p.state), ['joined', 'joined']);

    // A background tab gets no animation frames, and puppeteer's clicks wait for one: bring each to the front first.
    await one.bringToFront();
    await addVm(one, 'a', 'e1000');
    await startVm(one, 'a');
    await two.bringToFront();
    await addVm(two, 'b', 'virtio');
    await startVm(two, 'b');
    await waitForTerminal(one, 'a', /^a:~# /m, BOOT_TIMEOUT_MS);
    await waitForTerminal(two, 'b', /^b:~# /m, BOOT_TIMEOUT_MS);

    // Each VM took its page's addresses (10.0.P.1/16) and MAC prefix.
    const ipA = `${helloOne.ipBase}.1`;
    const ipB = `${helloTwo.ipBase}.1`;
    // Short lines: the terminal wraps long ones.
    await one.bringToFront();
    await typeInto(one, 'a', `ip -4 addr show eth0 | grep inet; cat /sys/class/net/eth0/address; ping -c 3 -W 5 ${ipB}\n`);
    const textA = await waitForTerminal(one, 'a', /\d+ packets transmitted, \d+ packets received/, 60_000);
    assert.match(textA, new RegExp(`inet ${ipA.replace(/\./g, '\\.')}/16`));
    assert.match(textA, new RegExp(`^0a:76:6d:${helloOne.page.toString(16).padStart(2, '0')}:01:00$`, 'm'));
    assert.match(textA, /3 packets transmitted, [1-3] packets received/, textA.slice(-400));
    await two.bringToFront();
    await typeInto(two, 'b', `ping -c 3 -W 5 ${ipA}\n`);
    const textB = await waitForTerminal(two, 'b', /\d+ packets transmitted, \d+ packets received/, 60_000);
    assert.match(textB, /3 packets transmitted, [1-3] packets received/, textB.slice(-400));
    const busy = await status();
    for (const page of busy.pages) assert.ok(page.counters.rxFrames >= 3, `page ${page.page} sent frames through the shared switch`);

    // Closing page one: its socket closes, the server's switch runs the stop order for that page's port.
    const portOne = busy.pages.find((p) => p.page === helloOne.page)!.portId;
    await one.close();
    await waitFor('the stop order for page one\'s port', () => oids.some((e) => e.port === portOne && e.oid === 'PORT_DELETE'), 30_000);
    assert.deepEqual(
      oids.filter((e) => e.port === portOne).map((e) => e.oid),
      ['PORT_CREATE', 'PORT_PROPERTY_ADD', 'NIC_CREATE', 'NIC_CONNECT', 'NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE'],
    );
    const after = await status();
    assert.deepEqual(after.pages.map((p) => p.page), [helloTwo.page]);
    assert.ok(log.some((line) => line.includes(`page ${helloOne.page}`) && line.includes('left')), log.join('\n'));
    assert.deepEqual(problems, []);
  } finally {
    await browser?.close().catch(() => undefined);
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
