import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTemplate, runtimeCodeHash, templateDir, templatePath, writeTemplate } from './template-cache.ts';

test('templates live in the user cache directory', () => {
  assert.equal(templateDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/vmswitch/templates');
  assert.match(templateDir({ HOME: '/home/u' }), /\.cache\/vmswitch\/templates$/);
});

test('the path depends on image, memory and the NIC model list (in order)', () => {
  const key = { imageId: 'img1', memoryMiB: 128, nicModels: ['e1000', 'virtio'] as ('e1000' | 'virtio')[] };
  const base = templatePath(key, '/t');
  assert.match(base, /^\/t\/128m-e1000-virtio-[0-9a-f]{24}\.vmsnap$/);
  assert.equal(templatePath({ ...key }, '/t'), base);
  for (const other of [
    { ...key, imageId: 'img2' },
    { ...key, memoryMiB: 256 },
    { ...key, nicModels: ['virtio', 'e1000'] as ('e1000' | 'virtio')[] },
    { ...key, nicModels: [] },
    { ...key, codeId: 'other code' },
  ]) {
    assert.notEqual(templatePath(other, '/t'), base);
  }
  assert.match(templatePath({ ...key, nicModels: [] }, '/t'), /128m-nonic-/);
});

test('the code hash covers the runtime and device sources, and is stable', () => {
  assert.match(runtimeCodeHash(), /^[0-9a-f]{64}$/);
  assert.equal(runtimeCodeHash(), runtimeCodeHash());
  const key = { imageId: 'img', memoryMiB: 128, nicModels: [] };
  assert.equal(templatePath(key, '/t'), templatePath({ ...key, codeId: runtimeCodeHash() }, '/t'));
});

test('writes are atomic (no temp files left) and replace templates of older images of the same shape', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-templates-'));
  const shape = { memoryMiB: 128, nicModels: ['e1000'] as 'e1000'[] };
  const old = templatePath({ imageId: 'old', ...shape }, dir);
  const otherShape = templatePath({ imageId: 'old', memoryMiB: 256, nicModels: ['e1000'] }, dir);
  // Its name starts with the e1000 template's prefix, but it is another shape.
  const longerShape = templatePath({ imageId: 'old', memoryMiB: 128, nicModels: ['e1000', 'virtio'] }, dir);
  writeFileSync(old, 'old');
  writeFileSync(otherShape, 'other');
  writeFileSync(longerShape, 'longer');
  const fresh = templatePath({ imageId: 'new', ...shape }, dir);
  await writeTemplate(fresh, Uint8Array.of(1, 2, 3));
  assert.deepEqual([...readFileSync(fresh)], [1, 2, 3]);
  assert.deepEqual(readdirSync(dir).sort(), [fresh, otherShape, longerShape].map((p) => p.slice(dir.length + 1)).sort());
  assert.deepEqual([...(await readTemplate(fresh))!], [1, 2, 3]);
  assert.equal(await readTemplate(join(dir, 'missing.vmsnap')), undefined);
});
