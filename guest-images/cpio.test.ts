import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCpio, writeCpio, CpioError, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, type CpioEntry } from './cpio.ts';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

const ENTRIES: CpioEntry[] = [
  { name: 'bin', mode: S_IFDIR | 0o755, data: new Uint8Array(0) },
  { name: 'bin/busybox', mode: S_IFREG | 0o755, data: bytes(1001, 1) },
  { name: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
  { name: 'dev', mode: S_IFDIR | 0o755, data: new Uint8Array(0) },
  { name: 'dev/console', mode: S_IFCHR | 0o600, data: new Uint8Array(0), rdevMajor: 5, rdevMinor: 1 },
  { name: 'empty', mode: S_IFREG | 0o644, data: new Uint8Array(0) },
  { name: 'four', mode: S_IFREG | 0o600, data: bytes(4, 2) },
  { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from('#!/bin/sh\n') },
  { name: 'three', mode: S_IFREG | 0o644, data: bytes(3, 3) },
];

test('cpio: entries read back by our parser with names, modes, data and device numbers', () => {
  const archive = writeCpio(ENTRIES);
  const parsed = parseCpio(archive);
  assert.deepEqual(parsed.map((e) => e.name), ENTRIES.map((e) => e.name));
  for (const [i, e] of ENTRIES.entries()) {
    const p = parsed[i]!;
    assert.equal(p.mode, e.mode, e.name);
    assert.deepEqual(Buffer.from(p.data), Buffer.from(e.data), e.name);
    assert.equal(p.uid, 0);
    assert.equal(p.gid, 0);
    assert.equal(p.mtime, 0);
    assert.equal(p.ino, i + 1);
    assert.equal(p.offset % 4, 0, `${e.name} header is 4-byte aligned`);
  }
  assert.equal(Buffer.from(parsed[2]!.data).toString(), 'busybox');
  assert.deepEqual([parsed[4]!.rdevMajor, parsed[4]!.rdevMinor], [5, 1]);
  assert.equal(archive.length % 4, 0);
  assert.ok(archive.subarray(archive.length - 16).toString('latin1').includes('TRAILER!!!'));
});

test('cpio: same entries give the same bytes', () => {
  assert.deepEqual(writeCpio(ENTRIES), writeCpio(ENTRIES.map((e) => ({ ...e }))));
});

test('cpio: the system cpio (when installed) lists the same names', (t) => {
  const probe = spawnSync('cpio', ['--version']);
  if (probe.error) return t.skip('no cpio on this machine to cross-check with');
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-cpio-'));
  try {
    writeFileSync(join(dir, 'a.cpio'), writeCpio(ENTRIES));
    const listed = spawnSync('cpio', ['-it', '--quiet', '-F', join(dir, 'a.cpio')], { encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(listed.stdout.trim().split('\n'), ENTRIES.map((e) => e.name));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cpio: the writer refuses bad names, duplicates and unknown types', () => {
  const file = (name: string): CpioEntry => ({ name, mode: S_IFREG | 0o644, data: new Uint8Array(0) });
  for (const bad of ['/abs', 'a/../b', 'a//b', '', './a']) assert.throws(() => writeCpio([file(bad)]), CpioError, bad);
  assert.throws(() => writeCpio([file('a'), file('a')]), /duplicate/);
  assert.throws(() => writeCpio([{ name: 'fifo', mode: 0o010644, data: new Uint8Array(0) }]), /unsupported type/);
});

test('cpio: the parser rejects truncated archives and bad magic', () => {
  const archive = writeCpio(ENTRIES);
  assert.throws(() => parseCpio(archive.subarray(0, archive.length - 200)), CpioError);
  assert.throws(() => parseCpio(archive.subarray(0, 50)), /inside a header/);
  const corrupt = Buffer.from(archive);
  corrupt.write('070707', 0, 'latin1');
  assert.throws(() => parseCpio(corrupt), /bad magic/);
  const badSize = Buffer.from(archive);
  // The filesize field of the first file with data (bin/busybox, the second header).
  const second = parseCpio(archive)[1]!.offset;
  badSize.write('7fffffff', second + 6 + 6 * 8, 'latin1');
  assert.throws(() => parseCpio(badSize), /runs past the end/);
});
