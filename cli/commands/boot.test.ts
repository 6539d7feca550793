// `vmswitch boot` input errors (no guest is started); booting is in test/guest/runtime.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function boot(...args: string[]) {
  return spawnSync(process.execPath, ['bin/vmswitch.js', 'boot', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

test('--help prints the usage and exits 0', () => {
  const result = boot('--help');
  assert.equal(result.status, 0);
  assert.match(result.stdout, /^usage: vmswitch boot/);
  assert.match(result.stdout, /Ctrl-\]/);
});

test('bad input: one line on stderr, exit status 2, nothing started', () => {
  const bad = join(mkdtempSync(join(tmpdir(), 'vmswitch-boot-')), 'bad.vmsnap');
  writeFileSync(bad, 'not a snapshot');
  const cases: [string[], RegExp][] = [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--mem', 'lots'], /--mem takes a positive whole number/],
    [['--mem', '64'], /--mem must be between 80 and 2048 MiB/],
    [['--nic', 'ne2k'], /unknown NIC model 'ne2k'/],
    [['--timeout', '5'], /--timeout only applies to --exec/],
    [['--exec', 'true', '--timeout', '0'], /--timeout takes a positive whole number/],
    [['--snapshot', bad, '--cold'], /exclude each other/],
    [['--snapshot', join(tmpdir(), 'no-such-file.vmsnap')], /cannot use snapshot .*ENOENT/],
    [['--snapshot', bad], /cannot use snapshot .*bad magic/],
    [['stray'], /Unexpected argument 'stray'/],
  ];
  for (const [args, message] of cases) {
    const result = boot(...args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stdout, '');
  }
});
