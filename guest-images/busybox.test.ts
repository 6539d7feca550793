import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxApplets } from './busybox.ts';
import { cacheDir } from './paths.ts';

test('busybox: applet table read from the bytes of a binary', () => {
  const names = ['[', '[[', 'ash', 'cat', 'cttyhack', 'ip', 'ls', 'modprobe', 'mount', 'rmmod', 'setsid', 'sh', 'sleep', 'sort', 'tr', 'true', 'umount', 'uname', 'wc', 'xargs'];
  const binary = Buffer.concat([Buffer.from('\x7fELF junk\0more\0'), Buffer.from(names.join('\0') + '\0\0'), Buffer.from('tail')]);
  assert.deepEqual(busyboxApplets(binary), names);
  assert.throws(() => busyboxApplets(Buffer.from('no table here')), /not found/);
});

test('busybox: the real busybox-static applets match what the binary itself lists', (t) => {
  const extracted = join(cacheDir(), 'extracted');
  const dir = existsSync(extracted) ? readdirSync(extracted).find((d) => d.startsWith('busybox-static_')) : undefined;
  if (!dir) return t.skip(`no unpacked busybox-static in ${extracted} (run 'vmswitch image build' first)`);
  const path = join(extracted, dir, 'bin/busybox');
  const applets = busyboxApplets(readFileSync(path));
  for (const needed of ['sh', 'cttyhack', 'setsid', 'modprobe', 'rmmod', 'ip', 'mount', 'hostname']) assert.ok(applets.includes(needed), needed);
  // The i386 static binary also runs on an x86 host: cross-check when it can.
  const listed = spawnSync(path, ['--list'], { encoding: 'utf8' });
  if (listed.status !== 0) return t.diagnostic('could not run busybox --list on this host; checked the table only');
  assert.deepEqual(applets, listed.stdout.trim().split('\n'));
});
