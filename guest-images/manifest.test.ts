import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestFormatError, MAX_MANIFEST_BYTES, parseManifest, recipeHash } from './manifest.ts';
import { staleReason } from './index.ts';
import { SOURCE_DIR } from './paths.ts';

test('recipe hash: stable, changes with a builder source, ignores tests and build output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-recipe-'));
  try {
    cpSync(SOURCE_DIR, dir, { recursive: true, filter: (src) => src !== join(SOURCE_DIR, 'build') });
    const base = recipeHash(dir);
    assert.equal(recipeHash(dir), base);
    assert.equal(base, recipeHash(SOURCE_DIR));
    writeFileSync(join(dir, 'extra.test.ts'), '// a test file does not change the recipe\n');
    assert.equal(recipeHash(dir), base);
    appendFileSync(join(dir, 'init', 'init.ts'), '\n// changed\n');
    assert.notEqual(recipeHash(dir), base);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('manifest: junk is rejected with a clear error', () => {
  assert.throws(() => parseManifest('{"format":2}'), /not a vmswitch image manifest/);
  assert.throws(() => parseManifest('not json'), SyntaxError);
});

const validManifest = {
  format: 1,
  recipeHash: 'r',
  kernelVersion: '6.1.0-50-686',
  packages: [{ name: 'linux-image', version: '1', role: 'kernel', debSha256: 'ab' }],
  modules: ['e1000'],
  builtinModules: [],
  libraries: [{ soname: 'libc.so.6', package: 'libc6' }],
  files: Object.fromEntries(['vmlinuz', 'initramfs.cpio.gz', 'bios.bin', 'vgabios.bin'].map((name) => [name, { sha256: 'a'.repeat(64), size: 1 }])),
  initramfsCpioSha256: '',
};

test('manifest: every field is checked, every failure a ManifestFormatError naming it', () => {
  const parse = (changes: Record<string, unknown>): unknown => parseManifest(JSON.stringify({ ...validManifest, ...changes }));
  const refused = (pattern: RegExp) => (error: unknown) => error instanceof ManifestFormatError && pattern.test(error.message);
  assert.equal((parse({}) as { kernelVersion: string }).kernelVersion, '6.1.0-50-686');
  for (const text of ['null', '5', '[]', '"x"', 'not json']) assert.throws(() => parseManifest(text), refused(/not a vmswitch image manifest/), text);
  // The files a stale check hashes: exactly the image's four, nothing outside the folder.
  assert.throws(() => parse({ files: { ...validManifest.files, '../../etc/passwd': { sha256: 'a'.repeat(64), size: 1 } } }), refused(/unknown file "..\/..\/etc\/passwd"/));
  assert.throws(() => parse({ files: {} }), refused(/file vmlinuz has no valid sha256/));
  assert.throws(() => parse({ files: { ...validManifest.files, vmlinuz: null } }), refused(/file vmlinuz/));
  assert.throws(() => parse({ files: { ...validManifest.files, 'bios.bin': { sha256: 'x', size: 1 } } }), refused(/file bios.bin/));
  assert.throws(() => parse({ files: { ...validManifest.files, 'bios.bin': { sha256: 'a'.repeat(64), size: -1 } } }), refused(/file bios.bin/));
  assert.throws(() => parse({ kernelVersion: '../x' }), refused(/kernelVersion/));
  assert.throws(() => parse({ kernelVersion: 5 }), refused(/kernelVersion/));
  assert.throws(() => parse({ packages: [null] }), refused(/package list/));
  assert.throws(() => parse({ packages: [{ ...validManifest.packages[0], role: 'root' }] }), refused(/package list/));
  assert.throws(() => parse({ modules: [1] }), refused(/module lists/));
  assert.throws(() => parse({ libraries: 'libc' }), refused(/library list/));
  assert.throws(() => parse({ initramfsCpioSha256: null }), refused(/initramfsCpioSha256/));
  assert.throws(() => parseManifest(' '.repeat(MAX_MANIFEST_BYTES + 1)), refused(/over the 1048576-byte limit/));
});

test('manifest: a manifest naming files outside the image is not taken as current', async () => {
  // Before the check, files: {} made every image "current" whatever was on disk.
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-manifest-'));
  try {
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...validManifest, recipeHash: recipeHash(), files: {} }));
    assert.match((await staleReason(dir))!, /no image/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
