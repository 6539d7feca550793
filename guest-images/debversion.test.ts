import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { compareVersions, parseVersion, VersionFormatError } from './debversion.ts';

const sign = (n: number) => Math.sign(n);

test('debversion: the classic orderings (epoch, ~, letters, digits, revision)', () => {
  // Each list is strictly increasing.
  const chains = [
    ['1.0~rc1', '1.0', '1.0-1', '1.0+b1', '1.0.1'],
    ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0a'],
    ['0.9', '1.0', '1:0.1'],
    ['2.36-9', '2.36-9+deb12u1', '2.36-9+deb12u10', '2.36-9+deb12u14'],
    ['1.14.10-1~deb12u1', '1.14.10-1'],
    ['6.1.158-1', '6.1.176-1'],
    ['1.9', '1.10', '1.100'],
    ['1.0-1', '1.0-1.1', '1.0-2'],
    ['1a', '1b', '1+', '1.'],
  ];
  for (const chain of chains) {
    for (let i = 0; i < chain.length; i++) {
      for (let j = 0; j < chain.length; j++) {
        assert.equal(sign(compareVersions(chain[i]!, chain[j]!)), sign(i - j), `${chain[i]} vs ${chain[j]}`);
      }
    }
  }
});

test('debversion: equal spellings compare equal (leading zeros, missing revision, zero epoch)', () => {
  assert.equal(compareVersions('1.001', '1.1'), 0);
  assert.equal(compareVersions('0:1.0', '1.0'), 0);
  assert.equal(compareVersions('1.0', '1.0-0'), 0);
  assert.equal(compareVersions('1:1.35.0-4+deb12u1+b1', '1:1.35.0-4+deb12u1+b1'), 0);
});

test('debversion: parse splits at the first colon and the last hyphen', () => {
  assert.deepEqual(parseVersion('1:2.66-4+deb12u3+b1'), { epoch: 1, upstream: '2.66', revision: '4+deb12u3+b1' });
  assert.deepEqual(parseVersion('1.0.19+dfsg-2'), { epoch: 0, upstream: '1.0.19+dfsg', revision: '2' });
  assert.deepEqual(parseVersion('a-b-c'), { epoch: 0, upstream: 'a-b', revision: 'c' });
  assert.throws(() => parseVersion('x:1.0'), VersionFormatError);
  assert.throws(() => parseVersion('1:-1'), VersionFormatError);
});

test('debversion: agrees with dpkg --compare-versions on generated pairs (when dpkg is installed)', (t) => {
  if (spawnSync('dpkg', ['--version']).error) return t.skip('dpkg is not installed');
  const parts = ['0', '1', '01', '10', '1.0', 'a', 'A', '~', '~~', '+', '.', 'b1', '~rc1', '+deb12u1', '+deb12u10'];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const version = () => `${next() % 4 === 0 ? `${next() % 3}:` : ''}${1 + (next() % 3)}${Array.from({ length: next() % 4 }, () => parts[next() % parts.length]).join('')}${next() % 2 ? `-${1 + (next() % 2)}${parts[next() % parts.length]}` : ''}`;
  for (let i = 0; i < 150; i++) {
    const a = version();
    const b = version();
    const dpkgLess = spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
    const dpkgEqual = spawnSync('dpkg', ['--compare-versions', a, 'eq', b]).status === 0;
    assert.equal(sign(compareVersions(a, b)), dpkgLess ? -1 : dpkgEqual ? 0 : 1, `${a} vs ${b}`);
  }
});
