import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Manifest } from '../guest-images/index.ts';
import { imageId } from './template-id.ts';

test('the image id is the SHA-256 of the recipe and file hashes, as template names have always used', async () => {
  const manifest = { recipeHash: 'r1', files: { vmlinuz: { sha256: 'aa', size: 1 }, 'initramfs.cpio.gz': { sha256: 'bb', size: 2 } } } as unknown as Manifest;
  const expected = createHash('sha256').update(JSON.stringify({ recipe: 'r1', files: manifest.files })).digest('hex');
  assert.equal(await imageId(manifest), expected);
});
