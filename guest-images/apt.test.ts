import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dependencyNames, parseStanzas, debFileName, packagesInDependsOutput } from './apt.ts';

test('apt: stanzas with continuation lines', () => {
  const text = 'Package: tcpdump\nVersion: 4.99.3-1\nDescription: dump\n a long\n text\n\nPackage: libc6\nVersion: 2.36-9\n';
  const stanzas = parseStanzas(text);
  assert.equal(stanzas.length, 2);
  assert.equal(stanzas[0]!.get('Package'), 'tcpdump');
  assert.equal(stanzas[0]!.get('Description'), 'dump\na long\ntext');
  assert.equal(stanzas[1]!.get('Version'), '2.36-9');
});

test('apt: dependency names drop versions, alternatives after the first, and arch qualifiers', () => {
  assert.deepEqual(dependencyNames('libc6 (>= 2.34), libpcap0.8 (>= 1.9.0) | libpcap1, perl:any, adduser'), ['libc6', 'libpcap0.8', 'perl', 'adduser']);
  assert.deepEqual(dependencyNames(undefined), []);
  assert.deepEqual(dependencyNames(''), []);
});

test('apt: cached .deb names escape the epoch colon', () => {
  assert.equal(debFileName({ name: 'busybox-static', version: '1:1.35.0-4', filename: '', sha256: '', size: 0, depends: [] }), 'busybox-static_1%3a1.35.0-4_i386.deb');
});

test('apt: package names from recursive depends output, without virtual packages', () => {
  const text = 'tcpdump\n  Depends: libc6\n  Depends: libpcap0.8\nlibc6\n  Depends: libgcc-s1\n<debconf-2.0>\nlibpcap0.8\nlibc6\n';
  assert.deepEqual(packagesInDependsOutput(text), ['tcpdump', 'libc6', 'libpcap0.8']);
});
