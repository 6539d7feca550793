import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanStaleTemporaries, extractDeb } from './deb.ts';
import type { PackageInfo } from './apt.ts';

const info = (version: string): PackageInfo => ({ name: 'vmswitch-test', version, filename: '', sha256: '', size: 0, depends: [] });

test('deb: unpacks once per version into the cache; a corrupt .deb fails cleanly and leaves nothing', async (t) => {
  if (spawnSync('dpkg-deb', ['--version']).error) return t.skip('dpkg-deb is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-deb-'));
  try {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'DEBIAN/control'), 'Package: vmswitch-test\nVersion: 1:1.0-1\nArchitecture: i386\nMaintainer: t <t@example.org>\nDescription: test\n');
    writeFileSync(join(tree, 'usr/bin/hello'), 'hello\n');
    const deb = join(dir, 'test.deb');
    const built = spawnSync('dpkg-deb', ['--root-owner-group', '--build', tree, deb], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);

    const extractRoot = join(dir, 'extracted');
    const tmpRoot = join(dir, 'tmp');
    const first = await extractDeb(deb, info('1:1.0-1'), extractRoot, tmpRoot);
    assert.equal(first.fresh, true);
    assert.equal(first.dir, join(extractRoot, 'vmswitch-test_1%3a1.0-1'));
    assert.equal(readFileSync(join(first.dir, 'usr/bin/hello'), 'utf8'), 'hello\n');
    assert.equal((await extractDeb(deb, info('1:1.0-1'), extractRoot, tmpRoot)).fresh, false);

    const corrupt = join(dir, 'corrupt.deb');
    writeFileSync(corrupt, readFileSync(deb).subarray(0, 200));
    await assert.rejects(extractDeb(corrupt, info('2.0'), extractRoot, tmpRoot), /dpkg-deb -x vmswitch-test failed/);
    assert.equal(existsSync(join(extractRoot, 'vmswitch-test_2.0')), false);
    assert.deepEqual(readdirSync(tmpRoot), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deb: temporaries of dead builds are removed, those of live ones kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-tmp-'));
  try {
    mkdirSync(join(dir, `download-${process.pid}-1`));
    mkdirSync(join(dir, 'extract-4194305-1-libc6'));
    mkdirSync(join(dir, 'unrelated'));
    await cleanStaleTemporaries(dir);
    assert.deepEqual(readdirSync(dir).sort(), [`download-${process.pid}-1`, 'unrelated']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
