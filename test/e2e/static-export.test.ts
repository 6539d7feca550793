// The static export end to end: `vmswitch web --export DIR`, DIR served by a
// plain node:http file server (static-server.ts, no vmswitch code), and the lab
// used through the page: one VM restored from the exported template snapshot,
// one booted cold from the exported kernel and initramfs, pinging each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addVm, bootedFrom, openLab, startVm, typeInto, waitForTerminal } from './browser.ts';
import { serveFolder, type StaticServer } from './static-server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BOOT_TIMEOUT_MS = 300_000;

test('the exported lab on a plain static server: a snapshot VM and a cold-booted VM ping each other', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-export-'));
  let files: StaticServer | undefined;
  try {
    const exported = spawnSync(process.execPath, [join(ROOT, 'bin/vmswitch.js'), 'web', '--export', dir], { cwd: ROOT, encoding: 'utf8', timeout: 400_000 });
    assert.equal(exported.status, 0, exported.stderr + exported.stdout);
    assert.match(exported.stdout, /exported the lab to .*template snapshots: e1000, virtio/);
    const config = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { snapshots: Record<string, string>; image: Record<string, string> };
    // Relative URLs only: the export works under any path of any host.
    for (const url of [...Object.values(config.snapshots), ...Object.values(config.image)]) assert.doesNotMatch(url, /^\/|^[a-z]+:/, url);

    const lab = await openLab({
      serve: async () => {
        files = await serveFolder(dir);
        return files;
      },
    });
    try {
      const { page } = lab;
      await addVm(page, 'a', 'e1000', 'snapshot');
      await addVm(page, 'b', 'virtio', 'cold');
      await startVm(page, 'a');
      await startVm(page, 'b');
      await waitForTerminal(page, 'a', /^a:~# /m, BOOT_TIMEOUT_MS);
      await waitForTerminal(page, 'b', /^b:~# /m, BOOT_TIMEOUT_MS);
      const from = await bootedFrom(page, 'a', 'b');
      assert.deepEqual(from, ['snapshot', 'cold']);

      await typeInto(page, 'a', 'ping -c 3 b\n');
      const pinged = await waitForTerminal(page, 'a', /3 packets transmitted, 3 packets received/, 90_000);
      assert.match(pinged, /PING b \(10\.0\.0\.2\)/);
      // Everything came from the folder: the config, v86, the template, the kernel.
      const requested = new Set(files!.requests);
      for (const path of ['/lab.json', '/v86/v86.wasm', '/' + config.snapshots['e1000'], '/image/vmlinuz', '/image/initramfs.cpio.gz']) {
        assert.ok(requested.has(path), `${path} was fetched (got ${[...requested].join(' ')})`);
      }
      assert.deepEqual(lab.problems, []);
    } finally {
      await lab.close();
    }
  } finally {
    // (openLab's close stopped the file server.)
    rmSync(dir, { recursive: true, force: true });
  }
});
