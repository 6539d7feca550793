import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest, recipeHash } from './manifest.ts';
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
