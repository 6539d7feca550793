import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imagePaths, readManifest, staleReason, type Manifest } from './index.ts';
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
