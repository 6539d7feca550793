import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ExpiredReleaseError, IndexFormatError, SignatureError, checkRelease, loadArchiveKeys, parsePackages, parseRelease, verifyInRelease } from './release.ts';
import { cacheDir } from './paths.ts';

test('release: the shipped Debian archive keys verify the InRelease files apt fetched; one changed byte does not', async (t) => {
  const lists = join(cacheDir(), 'apt', 'lists');
  const files = [lists, join(lists, 'partial')].flatMap((d) => (existsSync(d) ? readdirSync(d).filter((n) => n.endsWith('_InRelease')).map((n) => join(d, n)) : []));
  if (!files.length) return t.skip(`no InRelease files in ${lists} (build the image with apt first)`);
  const keys = await loadArchiveKeys();
  for (const file of files) {
    const armored = readFileSync(file, 'utf8');
    const text = await verifyInRelease(armored, keys, file);
    const release = parseRelease(text, file);
    assert.ok(release.codename?.startsWith('bookworm'), `${file}: ${release.codename}`);
    assert.ok(release.sha256.has('main/binary-i386/Packages'), file);
    await assert.rejects(verifyInRelease(armored.replace(/^(Codename: bookworm)/m, '$1x'), keys, file), (e: Error) => e instanceof SignatureError && /bad signature/.test(e.message));
  }
});

test('release: fields, SHA256 list, suite and Valid-Until checks', () => {
  const text = `Origin: Debian\nSuite: oldstable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nValid-Until: Sat, 18 Jul 2026 10:16:37 UTC\nAcquire-By-Hash: yes\nSHA256:\n ${'a'.repeat(64)}  1234 main/binary-i386/Packages\n ${'b'.repeat(64)} 99 main/binary-i386/Packages.xz\n`;
  const release = parseRelease(text, 't');
  assert.equal(release.codename, 'bookworm');
  assert.equal(release.acquireByHash, true);
  assert.deepEqual(release.sha256.get('main/binary-i386/Packages'), { sha256: 'a'.repeat(64), size: 1234 });
  assert.equal(release.validUntil?.toISOString(), '2026-07-18T10:16:37.000Z');
  checkRelease(release, 'bookworm', 't', { now: new Date('2026-07-18T10:16:36Z') });
  checkRelease(release, 'oldstable', 't', { now: new Date('2026-07-18T10:16:36Z') });
  assert.throws(() => checkRelease(release, 'bookworm', 't', { now: new Date('2026-07-18T10:16:38Z') }), ExpiredReleaseError);
  checkRelease(release, 'bookworm', 't', { now: new Date('2030-01-01Z'), allowExpired: true });
  assert.throws(() => checkRelease(release, 'trixie', 't'), (e: Error) => e instanceof IndexFormatError && /for suite bookworm, not trixie/.test(e.message));
  assert.throws(() => parseRelease(text.replace('1234', '-1'), 't'), IndexFormatError);
  assert.throws(() => parseRelease(text.replace('Valid-Until: Sat', 'Valid-Until: Someday'), 't'), /bad Valid-Until/);
  assert.throws(() => parseRelease(text.replace('Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC', 'Valid-Until: 2099'), 't'), /bad Valid-Until/);
  assert.throws(() => parseRelease('Codename: bookworm\n', 't'), /no SHA256/);
});

test('packages: stanzas with continuation lines; first alternatives; unsafe names and paths refuse the index', () => {
  const stanza = (over: Record<string, string> = {}) =>
    Object.entries({ Package: 'tcpdump', Version: '4.99.3-1', 'Pre-Depends': 'libc6 (>= 2.34)', Depends: 'libpcap0.8 (>= 1.10) | libpcap1,\n libssl3:any', Filename: 'pool/main/t/tcpdump/tcpdump_4.99.3-1_i386.deb', Size: '480000', SHA256: 'c'.repeat(64), Description: 'dump\n traffic', ...over })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n');
  const [p] = parsePackages(`${stanza()}\n\n`, 't');
  assert.deepEqual(p, { name: 'tcpdump', version: '4.99.3-1', filename: 'pool/main/t/tcpdump/tcpdump_4.99.3-1_i386.deb', sha256: 'c'.repeat(64), size: 480000, depends: ['libc6', 'libpcap0.8', 'libssl3'] });
  for (const [field, value] of [['Filename', '../../etc/passwd'], ['Filename', '/etc/passwd'], ['Filename', 'pool/%2e%2e/x.deb'], ['Filename', 'http://evil.example/x.deb'], ['Package', '../x'], ['SHA256', 'zz'], ['Size', '1e9'], ['Version', 'x:1']] as const) {
    assert.throws(() => parsePackages(stanza({ [field]: value }), 't'), IndexFormatError, `${field}: ${value}`);
  }
});
