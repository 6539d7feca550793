import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RootFs } from './rootfs.ts';
import { parseCpio, S_IFDIR, S_IFMT, S_IFREG, S_IFLNK } from './cpio.ts';

test('rootfs: parents are created, entries come out sorted, folders before contents', () => {
  const root = new RootFs().file('usr/share/x', 'x').symlink('bin/sh', 'busybox').file('bin/busybox', 'bb', 0o755).dir('tmp', 0o1777);
  const entries = parseCpio(root.toCpio());
  assert.deepEqual(entries.map((e) => e.name), ['bin', 'bin/busybox', 'bin/sh', 'tmp', 'usr', 'usr/share', 'usr/share/x']);
  assert.equal(entries[0]!.mode, S_IFDIR | 0o755);
  assert.equal(entries[1]!.mode, S_IFREG | 0o755);
  assert.equal(entries[2]!.mode & S_IFMT, S_IFLNK);
  assert.equal(entries[3]!.mode, S_IFDIR | 0o1777);
});

test('rootfs: adding a path twice is an error unless replacing; bad paths are refused', () => {
  const root = new RootFs().symlink('bin/ip', 'busybox');
  assert.throws(() => root.file('bin/ip', 'x'), /added twice/);
  root.file('bin/ip', 'real', 0o755, { replace: true });
  assert.equal(Buffer.from(parseCpio(root.toCpio()).find((e) => e.name === 'bin/ip')!.data).toString(), 'real');
  assert.throws(() => root.file('../etc/passwd', 'x'), /bad path/);
  assert.throws(() => root.file('a/./b', 'x'), /bad path/);
  root.dir('bin');
  assert.ok(root.has('/bin/ip'));
});
