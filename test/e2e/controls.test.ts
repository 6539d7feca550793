// The page's controls without booting guests: input checks, capture toggle,
// an empty capture download, the served assets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addVm, openLab } from './browser.ts';
import { readPcapng } from './pcapng-reader.ts';

test('controls: bad input gets a message, capture toggles, the download is a valid pcapng', { timeout: 120_000 }, async () => {
  const lab = await openLab({ templates: 'none' });
  try {
    const { page } = lab;
    const message = () => page.$eval('#message', (e) => [e.textContent, e.className]);

    await page.$eval('#vm-name', (input) => ((input as HTMLInputElement).value = 'Bad Name'));
    await page.click('#add-vm-button');
    // The form's own pattern check or ours: either way no VM is added.
    assert.equal(await page.$$eval('.vm', (cards) => cards.length), 0);

    await addVm(page, 'a', 'e1000');
    assert.deepEqual(await message(), ['added a', 'message info']);
    // The next name is suggested.
    assert.equal(await page.$eval('#vm-name', (e) => (e as HTMLInputElement).value), 'b');
    await page.$eval('#vm-name', (input) => ((input as HTMLInputElement).value = 'a'));
    await page.click('#add-vm-button');
    assert.deepEqual(await message(), ["there is already a VM named 'a'", 'message error']);
    assert.equal(await page.$$eval('.vm', (cards) => cards.length), 1);

    // A VM that was never started: Start enabled, Stop disabled, no port in the panel.
    assert.equal(await page.$eval('.vm[data-name="a"] button.start', (b) => (b as HTMLButtonElement).disabled), false);
    assert.equal(await page.$eval('.vm[data-name="a"] button.stop', (b) => (b as HTMLButtonElement).disabled), true);
    await page.waitForFunction(() => /No ports yet/.test(document.querySelector('#ports tbody')?.textContent ?? ''), { timeout: 5000 });

    await page.click('#capture-toggle');
    await page.waitForFunction(() => /capture off/.test(document.querySelector('#switch-totals')?.textContent ?? ''));
    assert.equal(await page.evaluate(() => (window as unknown as { vmswitch: { lab: { capture: { enabled: boolean } } } }).vmswitch.lab.capture.enabled), false);
    await page.click('#capture-toggle');
    await page.waitForFunction(() => /capture on/.test(document.querySelector('#switch-totals')?.textContent ?? ''));

    await page.click('#download-pcap');
    const deadline = Date.now() + 10_000;
    let file: string | undefined;
    while (!file && Date.now() < deadline) {
      file = readdirSync(lab.downloadDir).find((f) => f.endsWith('.pcapng'));
      if (!file) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(file, 'no download');
    const capture = readPcapng(new Uint8Array(readFileSync(join(lab.downloadDir, file))));
    assert.equal(capture.packets.length, 0);

    // The assets the page needs, with the types browsers insist on.
    const types = await page.evaluate(async () => {
      const out: Record<string, string | null> = {};
      for (const url of ['v86/v86.wasm', 'vm-worker.js', 'app.js', 'xterm.css', 'lab.json']) {
        const response = await fetch(url);
        await response.arrayBuffer();
        out[url] = response.headers.get('content-type');
      }
      return out;
    });
    assert.deepEqual(types, {
      'v86/v86.wasm': 'application/wasm',
      'vm-worker.js': 'text/javascript; charset=utf-8',
      'app.js': 'text/javascript; charset=utf-8',
      'xterm.css': 'text/css; charset=utf-8',
      'lab.json': 'application/json; charset=utf-8',
    });
    assert.deepEqual(lab.problems, []);
  } finally {
    await lab.close();
  }
});
