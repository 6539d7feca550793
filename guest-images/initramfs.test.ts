import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareInputs, writeImage, type BuildInputs } from './build.ts';
import { assemble } from './initramfs.ts';
import { parseCpio, S_IFCHR, S_IFLNK, S_IFMT, S_IFREG } from './cpio.ts';
import { cacheDir } from './paths.ts';
import { parseManifest } from './manifest.ts';
import { parseElf } from './elf.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function cachedInputs(): Promise<BuildInputs | string> {
  try {
    return await prepareInputs({ cacheRoot: cacheDir(), offline: true });
  } catch (error) {
    return `packages not in the download cache ${cacheDir()} (run 'vmswitch image build' first): ${(error as Error).message}`;
  }
}

test('initramfs: two assemblies from the cached packages are byte-identical, and the archive holds a bootable root', async (t) => {
  const inputs = await cachedInputs();
  if (typeof inputs === 'string') return t.skip(inputs);
  const first = await assemble(inputs);
  const second = await assemble(inputs);
  assert.equal(sha256(first.initramfs), sha256(second.initramfs));
  assert.equal(sha256(first.cpio), sha256(second.cpio));
  assert.deepEqual(gunzipSync(first.initramfs), first.cpio);

  const entries = parseCpio(first.cpio);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const names = entries.map((e) => e.name);
  assert.deepEqual(names, [...names].sort(), 'entries sorted');
  assert.ok(entries.every((e) => e.mtime === 0 && e.uid === 0 && e.gid === 0), 'fixed mtime and owner');
  for (const e of entries) {
    const slash = e.name.lastIndexOf('/');
    if (slash > 0) assert.ok(byName.has(e.name.slice(0, slash)), `parent of ${e.name} precedes it`);
  }
  const init = byName.get('init')!;
  assert.equal(init.mode & 0o777, 0o755);
  assert.match(Buffer.from(init.data).toString(), /^#!\/bin\/sh\n/);
  assert.equal(byName.get('bin/sh')!.mode & S_IFMT, S_IFLNK);
  assert.equal(Buffer.from(byName.get('bin/sh')!.data).toString(), 'busybox');
  assert.equal(byName.get('dev/console')!.mode & S_IFMT, S_IFCHR);
  assert.equal(byName.get('sbin')!.mode & S_IFMT, S_IFLNK);

  // Every shared library any ELF in the image needs is in /lib, and nothing more.
  const libs = new Set(entries.filter((e) => e.name.startsWith('lib/') && e.name !== 'lib/modules' && !e.name.startsWith('lib/modules/')).map((e) => e.name.slice(4)));
  const needed = new Set<string>(['ld-linux.so.2']);
  for (const e of entries) {
    if ((e.mode & S_IFMT) !== S_IFREG || e.data.length < 4 || e.data[0] !== 0x7f || e.name.startsWith('lib/modules/')) continue;
    for (const n of parseElf(e.data).needed) needed.add(n);
  }
  assert.deepEqual([...libs].sort(), [...needed].sort());
  for (const tool of ['bin/ethtool', 'bin/tcpdump', 'bin/iperf3']) assert.equal(byName.get(tool)!.mode & S_IFMT, S_IFREG, tool);

  const dep = Buffer.from(byName.get(`lib/modules/${first.kernelVersion}/modules.dep`)!.data).toString();
  assert.match(dep, /^kernel\/drivers\/net\/ethernet\/intel\/e1000\/e1000\.ko:$/m);
  assert.match(dep, /^kernel\/drivers\/net\/virtio_net\.ko: .*net_failover\.ko.*failover\.ko/m);
  for (const line of dep.trim().split('\n')) {
    for (const path of line.replace(':', '').split(' ')) assert.ok(byName.has(`lib/modules/${first.kernelVersion}/${path}`), `${path} is shipped`);
  }

  // writeImage records the hashes of what it wrote.
  const out = mkdtempSync(join(tmpdir(), 'vmswitch-image-'));
  try {
    const manifest = await writeImage(first, out, 'test-recipe');
    const reread = parseManifest(readFileSync(join(out, 'manifest.json'), 'utf8'));
    assert.deepEqual(reread, manifest);
    assert.equal(manifest.kernelVersion, first.kernelVersion);
    assert.equal(manifest.files['initramfs.cpio.gz'].sha256, sha256(readFileSync(join(out, 'initramfs.cpio.gz'))));
    assert.equal(manifest.files.vmlinuz.sha256, sha256(readFileSync(join(out, 'vmlinuz'))));
    assert.ok(manifest.packages.some((p) => p.role === 'kernel' && p.name === `linux-image-${first.kernelVersion}`));
    assert.ok(manifest.packages.some((p) => p.name === 'libc6'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
