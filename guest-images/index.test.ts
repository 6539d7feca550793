import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imagePaths, packageSource, readManifest, staleReason, type Manifest } from './index.ts';
import { MirrorSource } from './mirror.ts';
import { MirrorError } from './release.ts';
import { recipeHash } from './manifest.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function fakeImage(dir: string, recipe: string): Manifest {
  const contents = { vmlinuz: 'kernel', 'initramfs.cpio.gz': 'initrd', 'bios.bin': 'bios', 'vgabios.bin': 'vga' };
  const files = {} as Manifest['files'];
  for (const [name, text] of Object.entries(contents)) {
    writeFileSync(join(dir, name), text);
    files[name as keyof Manifest['files']] = { sha256: sha256(text), size: text.length };
  }
  const manifest: Manifest = {
    format: 1, recipeHash: recipe, kernelVersion: '6.1.0-50-686', packages: [], modules: [], builtinModules: [], libraries: [], files, initramfsCpioSha256: '',
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return manifest;
}

test('image: stale when missing, when the recipe changed, or when a file no longer matches', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-stale-'));
  try {
    assert.match((await staleReason(dir))!, /no image/);
    assert.equal(imagePaths(dir).manifest, undefined);
    fakeImage(dir, 'an old recipe');
    assert.match((await staleReason(dir))!, /recipe changed/);
    const manifest = fakeImage(dir, recipeHash());
    assert.equal(await staleReason(dir), undefined);
    assert.deepEqual(await readManifest(dir), manifest);
    const paths = imagePaths(dir);
    assert.equal(paths.kernel, join(dir, 'vmlinuz'));
    assert.equal(paths.initrd, join(dir, 'initramfs.cpio.gz'));
    assert.equal(paths.manifest?.kernelVersion, '6.1.0-50-686');
    writeFileSync(join(dir, 'initramfs.cpio.gz'), 'truncated');
    assert.match((await staleReason(dir))!, /initramfs\.cpio\.gz is missing or does not match/);
    writeFileSync(join(dir, 'manifest.json'), '{broken');
    assert.match((await staleReason(dir))!, /no image/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('image: the package source: --no-apt / VMSWITCH_NO_APT pick the mirror; mirrors from options, env, then apt sources; none is a clear error', async () => {
  const none = '/nonexistent-apt-etc';
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  await assert.rejects(packageSource({ source: 'mirror' }, '/c', log, {}, none), (e: Error) => e instanceof MirrorError && /no Debian mirror configured: pass --mirror URL .* or set VMSWITCH_DEBIAN_MIRROR/.test(e.message));
  const fromEnv = await packageSource({}, '/c', log, { VMSWITCH_NO_APT: '1', VMSWITCH_DEBIAN_MIRROR: 'http://m.example/debian' }, none);
  assert.ok(fromEnv instanceof MirrorSource);
  assert.equal(fromEnv.label, 'mirror http://m.example/debian');
  assert.ok(lines.some((l) => /bookworm-security is left out/.test(l)));
  const fromOptions = await packageSource({ source: 'mirror', mirror: 'http://o.example/debian', securityMirror: 'http://s.example/debian-security' }, '/c', log, { VMSWITCH_DEBIAN_MIRROR: 'http://ignored.example/debian' }, none);
  assert.equal(fromOptions.label, 'mirror http://o.example/debian, http://s.example/debian-security');
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-aptetc-'));
  try {
    writeFileSync(join(dir, 'sources.list'), 'deb http://a.example/debian bookworm main\ndeb http://a.example/debian-security bookworm-security main\n');
    assert.equal((await packageSource({ source: 'mirror' }, '/c', log, {}, dir)).label, 'mirror http://a.example/debian, http://a.example/debian-security');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
