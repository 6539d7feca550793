// README's "Use it from your code" example, run as written: extracted from
// README.md, saved as a plain .mjs in a project that installed the packed
// package (test/package/install.ts), run by plain Node (no tsx). Its own cache
// folder shares only the package downloads: the installed package builds its
// image and template snapshots there (its code hash differs from the
// checkout's), leaving the checkout's templates alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from '../../guest-images/paths.ts';
import { packAndInstall, readmeExample } from '../package/install.ts';

/** What the image build downloads and unpacks (guest-images/apt.ts), shared with the real cache. */
const DOWNLOAD_CACHES = ['apt', 'debs', 'extracted'];

test("the README's plain-JS example runs against the installed package: two VMs, a ping, the counters", { timeout: 900_000 }, () => {
  const example = readmeExample('Use it from your code');
  const pkg = packAndInstall();
  const cache = mkdtempSync(join(tmpdir(), 'vmswitch-readme-cache-'));
  try {
    mkdirSync(join(cache, 'vmswitch'));
    for (const name of DOWNLOAD_CACHES) {
      const shared = join(cacheDir(), name);
      if (existsSync(shared)) symlinkSync(shared, join(cache, 'vmswitch', name));
    }
    writeFileSync(join(pkg.project, 'lab.mjs'), example);
    const run = spawnSync(process.execPath, ['lab.mjs'], {
      cwd: pkg.project,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '', XDG_CACHE_HOME: cache },
      timeout: 800_000,
    });
    const shown = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    assert.equal(run.status, 0, shown);
    assert.match(run.stdout, /3 packets transmitted, 3 packets received/, shown);
    for (const [vm, port] of [['a', 1], ['b', 2]] as const) {
      for (const oid of ['PORT_CREATE', 'NIC_CREATE', 'NIC_CONNECT', 'NIC_DISCONNECT', 'PORT_DELETE']) {
        assert.match(run.stdout, new RegExp(`^${vm} eth0 OID_SWITCH_${oid} port ${port} success$`, 'm'), shown);
      }
    }
    const counters = [...run.stdout.matchAll(/^port (\d+): (\w+) (\w+) rx (\d+) tx (\d+)$/gm)].map((m) => ({ vm: m[2], model: m[3], rx: Number(m[4]), tx: Number(m[5]) }));
    assert.deepEqual(counters.map((c) => `${c.vm} ${c.model}`), ['a e1000', 'b virtio'], shown);
    for (const c of counters) assert.ok(c.rx >= 3 && c.tx >= 3, JSON.stringify(c));
    // The installed package wrote its image and templates to the cache, nothing into its own folder.
    assert.ok(existsSync(join(cache, 'vmswitch', 'image', 'manifest.json')));
    assert.ok(!existsSync(join(pkg.packageDir, 'dist', 'guest-images', 'build')));
  } finally {
    pkg.remove();
    rmSync(cache, { recursive: true, force: true });
  }
});
