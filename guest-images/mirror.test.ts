// The mirror source against a tiny Debian archive made here and signed with a
// key generated for the test (the real-archive comparison with the apt path
// is test/guest/image-mirror.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { arArchive, tarArchive } from './archive.fuzz.ts';
import { MirrorSource, debianSuites, mirrorsInAptSources, type Suite } from './mirror.ts';
import { ExpiredReleaseError, HashMismatchError, IndexFormatError, MirrorError, SignatureError } from './release.ts';
import { prepareInputs } from './build.ts';
import { MissingPackageError, type PackageSource } from './source.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

function deb(files: Record<string, string>): Uint8Array {
  const data = gzipSync(tarArchive(Object.entries(files).map(([name, content]) => ({ name: `./${name}`, data: content }))));
  return arArchive([{ name: 'debian-binary', data: '2.0\n' }, { name: 'control.tar.gz', data: gzipSync(tarArchive([])) }, { name: 'data.tar.gz', data }]);
}

interface Pkg {
  name: string;
  version: string;
  depends?: string;
  files: Record<string, string>;
}

function packagesText(pkgs: Pkg[], pool: Map<string, Uint8Array>): string {
  return pkgs
    .map((p) => {
      const bytes = deb(p.files);
      const filename = `pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version.replace(/^\d+:/, '')}_i386.deb`;
      pool.set(`/${filename}`, bytes);
      return `Package: ${p.name}\nVersion: ${p.version}\nArchitecture: i386\n${p.depends ? `Depends: ${p.depends}\n` : ''}Filename: ${filename}\nSize: ${bytes.length}\nSHA256: ${sha256(bytes)}\nDescription: test\n a package\n`;
    })
    .join('\n');
}

async function signed(text: string, key: openpgp.PrivateKey): Promise<string> {
  return openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key });
}

interface Archive {
  files: Map<string, Uint8Array>;
  keysDir: string;
  otherKey: openpgp.PrivateKey;
  key: openpgp.PrivateKey;
  dir: string;
}

const DAY = 86_400_000;

/** `midSync`: Release says Acquire-By-Hash and the plain Packages path already holds the next sync's bytes. */
async function makeArchive(validUntil = new Date(Date.now() + 7 * DAY), midSync = false): Promise<Archive> {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-archive-'));
  const { privateKey: key, publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'vmswitch test archive' }], format: 'object' });
  const { privateKey: otherKey } = await openpgp.generateKey({ userIDs: [{ name: 'someone else' }], format: 'object' });
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir);
  writeFileSync(join(keysDir, 'test.asc'), publicKey.armor());
  const pool = new Map<string, Uint8Array>();
  const suites: Record<string, Pkg[]> = {
    bookworm: [
      { name: 'tool', version: '1.0-1', depends: 'libfoo1 (>= 1.0) | libbar1, libc6:any, adduser', files: { 'usr/bin/tool': 'tool 1.0-1' } },
      { name: 'libfoo1', version: '2.0-1', depends: 'libdep1', files: { 'usr/lib/libfoo.so.1': 'foo' } },
      { name: 'libbar1', version: '9.0-1', files: { 'usr/lib/libbar.so.1': 'bar' } },
      { name: 'libdep1', version: '1:0.9-1', files: { 'usr/lib/libdep.so.1': 'dep epoch 1' } },
      { name: 'libc6', version: '2.36-9+deb12u10', files: { 'lib/libc.so.6': 'libc u10' } },
      { name: 'adduser', version: '3.134', files: {} },
    ],
    'bookworm-updates': [
      { name: 'tool', version: '1.0-1+deb12u1', depends: 'libfoo1 (>= 1.0) | libbar1, libc6:any, adduser', files: { 'usr/bin/tool': 'tool 1.0-1+deb12u1' } },
      { name: 'libdep1', version: '5.0-1', files: { 'usr/lib/libdep.so.1': 'dep no epoch' } },
      { name: 'libc6', version: '2.36-9+deb12u9', files: { 'lib/libc.so.6': 'libc u9' } },
    ],
  };
  const files = new Map<string, Uint8Array>();
  for (const [suite, pkgs] of Object.entries(suites)) {
    const packages = new TextEncoder().encode(packagesText(pkgs, pool));
    const gz = gzipSync(packages);
    // bookworm serves the .gz form, -updates the plain one (as the test mirror of the real cache does).
    const served = suite === 'bookworm' ? { path: 'main/binary-i386/Packages.gz', data: gz } : { path: 'main/binary-i386/Packages', data: packages };
    files.set(`/debian/dists/${suite}/${served.path}`, midSync ? gzipSync('Package: next-sync\n') : served.data);
    if (midSync) files.set(`/debian/dists/${suite}/main/binary-i386/by-hash/SHA256/${sha256(served.data)}`, served.data);
    const release = `Origin: Debian\nSuite: old${suite}\nCodename: ${suite}\nDate: ${new Date().toUTCString()}\nValid-Until: ${validUntil.toUTCString()}\n${midSync ? 'Acquire-By-Hash: yes\n' : ''}SHA256:\n ${sha256(gz)} ${gz.length} main/binary-i386/Packages.gz\n ${sha256(packages)} ${packages.length} main/binary-i386/Packages\n`;
    files.set(`/debian/dists/${suite}/InRelease`, new TextEncoder().encode(await signed(release, key)));
  }
  for (const [path, data] of pool) files.set(`/debian${path}`, data);
  return { files, keysDir, key, otherKey, dir };
}

async function withServer<T>(files: Map<string, Uint8Array>, fn: (url: string) => Promise<T>): Promise<T> {
  const server = createServer((req, res) => {
    const data = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!data) res.writeHead(404, { connection: 'close' }).end();
    else res.writeHead(200, { 'content-length': data.length, connection: 'close' }).end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    // Keep-alive sockets too: a later server on the same port must not be answered by this one.
    server.closeAllConnections();
    server.close();
  }
}

const suitesAt = (url: string): Suite[] => [
  { base: `${url}/debian`, suite: 'bookworm' },
  { base: `${url}/debian`, suite: 'bookworm-updates' },
  { base: `${url}/debian-security`, suite: 'bookworm-security' },
];

test('mirror: candidates are the highest version of any suite (epochs, +debNuM), first alternatives are followed, .debs arrive verified and unpacked', async () => {
  const archive = await makeArchive();
  try {
    await withServer(archive.files, async (url) => {
      const lines: string[] = [];
      const source = new MirrorSource({ cacheRoot: join(archive.dir, 'cache'), suites: suitesAt(url), keysDir: archive.keysDir, log: (l) => lines.push(l) });
      await source.refresh(false);
      assert.ok(lines.some((l) => /warning: some package lists failed .*bookworm-security.*HTTP 404/.test(l)), 'a missing suite is a warning');
      const shown = await source.show(['tool', 'libdep1', 'libc6', 'nonexistent']);
      assert.equal(shown.get('tool')?.version, '1.0-1+deb12u1');
      assert.equal(shown.get('libdep1')?.version, '1:0.9-1', 'the epoch wins over a higher upstream');
      assert.equal(shown.get('libc6')?.version, '2.36-9+deb12u10', 'deb12u10 sorts after deb12u9');
      assert.equal(shown.has('nonexistent'), false);
      assert.deepEqual(shown.get('tool')?.depends, ['libfoo1', 'libc6', 'adduser']);
      assert.deepEqual((await source.dependsClosure(['tool'])).sort(), ['adduser', 'libc6', 'libdep1', 'libfoo1', 'tool']);
      const fetched = await source.fetch([...shown.values()]);
      assert.equal(new TextDecoder().decode(await fetched.get('tool')!.files.read('usr/bin/tool')), 'tool 1.0-1+deb12u1');
      assert.equal(new TextDecoder().decode(await fetched.get('libdep1')!.files.read('usr/lib/libdep.so.1')), 'dep epoch 1');
      assert.ok(lines.some((l) => /verified tool 1\.0-1\+deb12u1/.test(l)));
      // A second fetch uses the verified cache: nothing downloaded.
      const before = lines.length;
      await source.fetch([shown.get('tool')!]);
      assert.ok(lines.slice(before).some((l) => /already in the cache/.test(l)));
    });
  } finally {
    rmSync(archive.dir, { recursive: true, force: true });
  }
});

test('mirror: expired, foreign-signed, wrong-suite and tampered metadata is refused; an unreachable mirror is an error', async () => {
  const expired = await makeArchive(new Date(Date.now() - DAY));
  try {
    await withServer(expired.files, async (url) => {
      const opts = { cacheRoot: join(expired.dir, 'cache'), suites: suitesAt(url), keysDir: expired.keysDir };
      await assert.rejects(new MirrorSource(opts).refresh(false), (e: Error) => e instanceof ExpiredReleaseError && /--allow-expired/.test(e.message));
      await new MirrorSource({ ...opts, allowExpired: true }).refresh(false);
    });
    const cases: Array<[string, (files: Map<string, Uint8Array>) => Promise<void> | void, (e: Error) => boolean]> = [
      ['signed by another key', async (f) => {
        const text = new TextDecoder().decode(f.get('/debian/dists/bookworm/InRelease')!);
        const message = await openpgp.readCleartextMessage({ cleartextMessage: text });
        f.set('/debian/dists/bookworm/InRelease', new TextEncoder().encode(await signed(message.getText(), expired.otherKey)));
      }, (e) => e instanceof SignatureError && /signed by none of the Debian archive keys/.test(e.message)],
      ['answers with another suite', (f) => void f.set('/debian/dists/bookworm-updates/InRelease', f.get('/debian/dists/bookworm/InRelease')!), (e) => e instanceof IndexFormatError && /is for suite bookworm, not bookworm-updates/.test(e.message)],
      ['Packages.gz altered', (f) => void f.set('/debian/dists/bookworm/main/binary-i386/Packages.gz', gzipSync('Package: tool\n')), (e) => e instanceof HashMismatchError],
      ['not signed at all', (f) => void f.set('/debian/dists/bookworm/InRelease', new TextEncoder().encode('Codename: bookworm\nSHA256:\n')), (e) => e instanceof SignatureError],
    ];
    for (const [what, change, expected] of cases) {
      const files = new Map(expired.files);
      await change(files);
      await withServer(files, (url) => assert.rejects(new MirrorSource({ cacheRoot: join(expired.dir, 'cache'), suites: suitesAt(url), keysDir: expired.keysDir, allowExpired: true }).refresh(false), expected, what));
    }
    await assert.rejects(new MirrorSource({ cacheRoot: join(expired.dir, 'cache'), suites: [{ base: 'http://127.0.0.1:9/debian', suite: 'bookworm' }], keysDir: expired.keysDir }).refresh(false), (e: Error) => e instanceof MirrorError && /no package list could be fetched/.test(e.message));
  } finally {
    rmSync(expired.dir, { recursive: true, force: true });
  }
});

test('mirror: with Acquire-By-Hash the indexes come by their hash, so a mirror in the middle of a sync still works', async () => {
  const archive = await makeArchive(undefined, true);
  try {
    await withServer(archive.files, async (url) => {
      const source = new MirrorSource({ cacheRoot: join(archive.dir, 'cache'), suites: suitesAt(url), keysDir: archive.keysDir });
      await source.refresh(false);
      assert.equal((await source.show(['tool'])).get('tool')?.version, '1.0-1+deb12u1');
    });
  } finally {
    rmSync(archive.dir, { recursive: true, force: true });
  }
});

test('mirror: a .deb that differs from its Packages entry, or is longer than its Size, is refused and not cached', async () => {
  const archive = await makeArchive();
  try {
    for (const [what, change, message] of [
      ['one byte flipped', (d: Uint8Array) => Uint8Array.from(d, (b, i) => (i === 70 ? b ^ 1 : b)), /tool 1\.0-1\+deb12u1 from .* does not match the Packages index/],
      ['longer than Size', (d: Uint8Array) => new Uint8Array([...d, 0, 0]), /sends more than the \d+ bytes expected/],
    ] as const) {
      const files = new Map(archive.files);
      const path = [...files.keys()].find((p) => p.endsWith('tool_1.0-1+deb12u1_i386.deb'))!;
      files.set(path, change(files.get(path)!));
      const cacheRoot = join(archive.dir, `cache-${what}`);
      await withServer(files, async (url) => {
        const source = new MirrorSource({ cacheRoot, suites: suitesAt(url), keysDir: archive.keysDir });
        await source.refresh(false);
        await assert.rejects(source.fetch([(await source.show(['tool'])).get('tool')!]), (e: Error) => e instanceof HashMismatchError && message.test(e.message), what);
        // Nothing was cached: a later fetch from a fixed mirror downloads it again.
        await withServer(archive.files, async (goodUrl) => {
          const good = new MirrorSource({ cacheRoot, suites: suitesAt(goodUrl), keysDir: archive.keysDir, log: () => {} });
          await good.refresh(false);
          await good.fetch([(await good.show(['tool'])).get('tool')!]);
        });
      });
    }
  } finally {
    rmSync(archive.dir, { recursive: true, force: true });
  }
});

test('build: a recipe package missing from the lists is a MissingPackageError naming it and the source', async () => {
  const empty: PackageSource = {
    label: 'mirror http://127.0.0.1:1/debian',
    refresh: async () => {},
    show: async () => new Map(),
    dependsClosure: async () => [],
    fetch: async () => new Map(),
  };
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-missing-'));
  try {
    await assert.rejects(prepareInputs({ cacheRoot: dir, source: empty }), (e: Error) => e instanceof MissingPackageError && /linux-image-686 not found .*mirror http:\/\/127\.0\.0\.1:1\/debian/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mirror: the default mirrors are the ones the machine\'s apt sources name (deb822 and one-line)', () => {
  const deb822 = 'Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://sec.example/debian-security/\nSuites: bookworm-security\nComponents: main\n';
  assert.deepEqual(mirrorsInAptSources([deb822]), { mirror: 'http://mirror.example/debian', securityMirror: 'http://sec.example/debian-security' });
  assert.deepEqual(mirrorsInAptSources(['# comment\ndeb [arch=i386 signed-by=/k.gpg] https://one.example/debian bookworm main\ndeb http://two.example/debian-security bookworm-security main\n']), { mirror: 'https://one.example/debian', securityMirror: 'http://two.example/debian-security' });
  assert.deepEqual(mirrorsInAptSources(['deb http://x.example/ubuntu jammy main\n', 'Types: deb\nURIs: file:/srv/debian\nSuites: bookworm\n']), {});
  assert.deepEqual(debianSuites('http://m.example/debian/').map((s) => `${s.base} ${s.suite}`), ['http://m.example/debian bookworm', 'http://m.example/debian bookworm-updates']);
  assert.throws(() => debianSuites('ftp://m.example/debian'), /not http or https/);
});
