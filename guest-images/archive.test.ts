import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ArchiveFormatError, parseAr } from './ar.ts';
import { parseTar, tarToTree } from './tar.ts';
import { DiskTree, MemoryTree, type FileTree } from './tree.ts';
import { unpackDeb } from './debfile.ts';
import { arArchive, concat, paxRecord, tarArchive, tarMember } from './archive.fuzz.ts';
import { cacheDir } from './paths.ts';

const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

test('ar: members with odd sizes; truncation, lying sizes and bad magic are refused', () => {
  const bytes = arArchive([{ name: 'debian-binary', data: '2.0\n' }, { name: 'data.tar.gz', data: 'abc' }, { name: 'z', data: 'zz' }]);
  assert.deepEqual(parseAr(bytes).map((m) => [m.name, text(m.data)]), [['debian-binary', '2.0\n'], ['data.tar.gz', 'abc'], ['z', 'zz']]);
  assert.throws(() => parseAr(bytes.subarray(0, bytes.length - 1)), /truncated/);
  assert.throws(() => parseAr(bytes.subarray(0, 30)), /truncated member header/);
  assert.throws(() => parseAr(arArchive([{ name: 'x', data: 'a', size: 4_000_000_000 }])), /claims 4000000000 bytes/);
  assert.throws(() => parseAr(new TextEncoder().encode('PK\x03\x04 not ar')), ArchiveFormatError);
  assert.throws(() => parseAr(arArchive([{ name: '../x', data: 'a' }])), /bad member name/);
});

test('tar: files, folders, symlinks, hard links, GNU long names and pax paths become one tree', async () => {
  const long = `usr/share/${'d'.repeat(120)}/file`;
  const tar = tarArchive([
    { name: './', type: '5' },
    { name: './usr/bin/', type: '5' },
    { name: './usr/bin/tool', data: 'ELF?' },
    { name: './usr/bin/alias', type: '2', link: 'tool' },
    { name: './usr/bin/hard', type: '1', link: './usr/bin/tool' },
    { name: './lib/abs', type: '2', link: '/usr/bin/tool' },
    { name: '././@LongLink', type: 'L', data: `./${long}\0` },
    { name: './usr/share/truncated', data: 'long' },
    { name: 'PaxHeader', type: 'x', data: paxRecord('path', './etc/pax-named') },
    { name: './etc/short', data: 'pax' },
    { name: './boot/vmlinuz', data: 'upper' },
    { name: './boot/VMLINUZ', data: 'lower' },
  ]);
  const tree = tarToTree(parseTar(tar));
  assert.equal(text(await tree.read('usr/bin/tool')), 'ELF?');
  assert.equal(text(await tree.read('usr/bin/alias')), 'ELF?');
  assert.equal(text(await tree.read('usr/bin/hard')), 'ELF?');
  assert.equal(text(await tree.read('lib/abs')), 'ELF?', 'an absolute symlink resolves inside the tree');
  assert.equal(text(await tree.read(long)), 'long');
  assert.equal(text(await tree.read('etc/pax-named')), 'pax');
  // Names differing only in case stay apart (they would collide on a macOS disk).
  assert.equal(text(await tree.read('boot/vmlinuz')), 'upper');
  assert.equal(text(await tree.read('boot/VMLINUZ')), 'lower');
  assert.deepEqual((await tree.entries('usr/bin')).map((e) => `${e.name}:${e.kind}`).sort(), ['alias:symlink', 'hard:file', 'tool:file']);
  assert.equal(await tree.read('usr/bin'), undefined);
  assert.deepEqual(await tree.entries('no/such'), []);
});

test('tar: names leaving the tree, lying sizes, bad checksums and dangling hard links are refused', () => {
  const refused: Array<[string, Uint8Array, RegExp]> = [
    ['dot-dot', tarArchive([{ name: './usr/../../etc/passwd', data: 'x' }]), /climbs out of the tree/],
    ['absolute', tarArchive([{ name: '/etc/passwd', data: 'x' }]), /absolute member name/],
    ['long name dot-dot', tarArchive([{ name: '././@LongLink', type: 'L', data: '../../x\0' }, { name: 'x', data: 'x' }]), /climbs out/],
    ['pax dot-dot', tarArchive([{ name: 'p', type: 'x', data: paxRecord('path', '../../x') }, { name: 'x', data: 'x' }]), /climbs out/],
    ['symlink out', tarArchive([{ name: './usr/lib/x', type: '2', link: '../../../etc/shadow' }]), /points out of the tree/],
    ['huge size', tarArchive([{ name: 'x', data: 'abc', size: 0o77777777777 }]), /truncated/],
    ['truncated data', tarArchive([{ name: 'x', data: 'a'.repeat(2000) }]).subarray(0, 1024), /truncated/],
  ];
  for (const [what, bytes, message] of refused) assert.throws(() => tarToTree(parseTar(bytes)), message, what);
  const bad = tarMember({ name: 'x', data: 'x' });
  bad[0] = 0x79;
  assert.throws(() => parseTar(concat([bad, new Uint8Array(1024)])), /checksum mismatch/);
  assert.throws(() => tarToTree(parseTar(tarArchive([{ name: 'a', type: '1', link: 'nothing' }]))), /no earlier regular file/);
});

test('memory tree: relative and absolute symlinks, loops end as missing, .. stops at the root', async () => {
  const tree = new MemoryTree();
  tree.add('lib/i386-linux-gnu/libc.so.6', { kind: 'file', data: new TextEncoder().encode('libc') });
  tree.add('lib/ld.so', { kind: 'symlink', target: 'i386-linux-gnu/libc.so.6' });
  tree.add('usr/lib', { kind: 'symlink', target: '/lib' });
  tree.add('loop/a', { kind: 'symlink', target: 'b' });
  tree.add('loop/b', { kind: 'symlink', target: 'a' });
  tree.add('up', { kind: 'symlink', target: '../../../lib/ld.so' });
  assert.equal(text(await tree.read('lib/ld.so')), 'libc');
  assert.equal(text(await tree.read('usr/lib/i386-linux-gnu/libc.so.6')), 'libc');
  assert.deepEqual((await tree.entries('usr/lib')).map((e) => e.name).sort(), ['i386-linux-gnu', 'ld.so']);
  assert.equal(await tree.read('loop/a'), undefined);
  assert.equal(text(await tree.read('up')), 'libc');
});

test('deb: a .deb with a gzip data member unpacks in memory; a bad container or member is refused', async () => {
  const data = gzipSync(tarArchive([{ name: './usr/bin/', type: '5' }, { name: './usr/bin/hello', data: 'hello\n' }]));
  const deb = arArchive([{ name: 'debian-binary', data: '2.0\n' }, { name: 'control.tar.gz', data: gzipSync(tarArchive([])) }, { name: 'data.tar.gz', data }]);
  assert.equal(text(await (await unpackDeb(deb, 't')).read('usr/bin/hello')), 'hello\n');
  await assert.rejects(unpackDeb(arArchive([{ name: 'data.tar.gz', data }]), 't'), /debian-binary/);
  await assert.rejects(unpackDeb(arArchive([{ name: 'debian-binary', data: '2.0\n' }, { name: 'data.tar.zst', data: 'x' }]), 't'), /compression this builder does not read/);
  await assert.rejects(unpackDeb(arArchive([{ name: 'debian-binary', data: '2.0\n' }, { name: 'data.tar.gz', data: data.subarray(0, 40) }]), 't'), ArchiveFormatError);
  await assert.rejects(unpackDeb(arArchive([{ name: 'debian-binary', data: '2.0\n' }, { name: 'data.tar.xz', data: 'not xz at all' }]), 't'), /corrupt or truncated xz/);
});

async function walkFiles(tree: FileTree, dir: string, out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const e of await tree.entries(dir)) {
    const path = dir ? `${dir}/${e.name}` : e.name;
    if (e.kind === 'dir') await walkFiles(tree, path, out);
    else {
      const data = await tree.read(path);
      out.set(path, data ? createHash('sha256').update(data).digest('hex') : `(${e.kind}, unreadable)`);
    }
  }
  return out;
}

test('deb: real cached .debs (xz members) unpack in memory to the same files dpkg-deb -x wrote', async (t) => {
  const extracted = join(cacheDir(), 'extracted');
  const debs = join(cacheDir(), 'debs');
  const names = existsSync(extracted) ? readdirSync(extracted).filter((d) => /^(libc6|libpcap0\.8|seabios|tcpdump)_/.test(d) && existsSync(join(debs, `${d}_i386.deb`))) : [];
  if (!names.length) return t.skip(`no .deb unpacked by dpkg-deb in ${extracted} (run 'vmswitch image build' with apt first)`);
  for (const name of names) {
    const memory = await unpackDeb(readFileSync(join(debs, `${name}_i386.deb`)), name);
    assert.deepEqual(await walkFiles(memory, ''), await walkFiles(new DiskTree(join(extracted, name)), ''), name);
  }
});
