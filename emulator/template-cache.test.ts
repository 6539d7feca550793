import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashRuntimeSources, readTemplate, runtimeCodeHash, templateDir, templatePath, writeTemplate } from './template-cache.ts';

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

test('the code hash changes with every device model and runtime source, not with tests or fuzzers', () => {
  const emulatorDir = fileURLToPath(new URL('.', import.meta.url));
  const copy = mkdtempSync(join(tmpdir(), 'vmswitch-code-hash-'));
  try {
    cpSync(emulatorDir, copy, { recursive: true });
    const base = hashRuntimeSources(copy);
    assert.equal(base, runtimeCodeHash(), 'a copy hashes as the tree itself (paths are relative)');
    let previous = base;
    // Each edit must show: a hasher that left devices/ (or any of these) out would keep the key, and restore stale state.
    for (const file of ['devices/e1000/device.ts', 'devices/virtio-net/net-device.ts', 'devices/state-error.ts', 'net/frame.ts', 'v86/adapter.ts', 'snapshot.ts', 'vm.ts']) {
      appendFileSync(join(copy, file), '\n// changed\n');
      const changed = hashRuntimeSources(copy);
      assert.notEqual(changed, previous, `${file} changed but the template key did not`);
      previous = changed;
    }
    for (const file of ['devices/e1000/extra.test.ts', 'devices/e1000/extra.fuzz.ts', 'testing.ts']) {
      writeFileSync(join(copy, file), '// not runtime code\n');
      assert.equal(hashRuntimeSources(copy), previous, `${file} is not runtime code`);
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
