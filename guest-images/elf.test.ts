import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfError, elfSection, isElf, modinfo, parseElf } from './elf.ts';
import { cacheDir } from './paths.ts';

function elfHeader(type: number, phoff: number, phnum: number, shoff: number, shnum: number, shstrndx: number): Buffer {
  const h = Buffer.alloc(52);
  h.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  h.writeUInt16LE(type, 16);
  h.writeUInt16LE(3, 18); // EM_386
  h.writeUInt32LE(1, 20);
  h.writeUInt32LE(phoff, 28);
  h.writeUInt32LE(shoff, 32);
  h.writeUInt16LE(52, 40);
  h.writeUInt16LE(32, 42);
  h.writeUInt16LE(phnum, 44);
  h.writeUInt16LE(40, 46);
  h.writeUInt16LE(shnum, 48);
  h.writeUInt16LE(shstrndx, 50);
  return h;
}

/** A minimal dynamically linked i386 executable: PT_INTERP, one PT_LOAD, PT_DYNAMIC. */
function tinyExecutable(needed: string[], soname?: string): Buffer {
  const base = 0x08048000;
  const interp = Buffer.from('/lib/ld-linux.so.2\0');
  const names = [...needed, ...(soname ? [soname] : [])];
  const strtab = Buffer.from('\0' + names.map((n) => n + '\0').join(''));
  const interpAt = 52 + 3 * 32;
  const strAt = interpAt + interp.length;
  const dynAt = (strAt + strtab.length + 3) & ~3;
  const tags: Array<[number, number]> = [[5, base + strAt]];
  let at = 1;
  for (const n of needed) {
    tags.push([1, at]);
    at += n.length + 1;
  }
  if (soname) tags.push([14, at]);
  tags.push([0, 0]);
  const dyn = Buffer.alloc(tags.length * 8);
  tags.forEach(([t, v], i) => (dyn.writeUInt32LE(t, i * 8), dyn.writeUInt32LE(v, i * 8 + 4)));
  const total = dynAt + dyn.length;
  const ph = Buffer.alloc(3 * 32);
  const phEntry = (i: number, type: number, offset: number, size: number) => {
    ph.writeUInt32LE(type, i * 32);
    ph.writeUInt32LE(offset, i * 32 + 4);
    ph.writeUInt32LE(base + offset, i * 32 + 8);
    ph.writeUInt32LE(size, i * 32 + 16);
  };
  phEntry(0, 3, interpAt, interp.length);
  phEntry(1, 1, 0, total);
  phEntry(2, 2, dynAt, dyn.length);
  const out = Buffer.alloc(total);
  elfHeader(2, 52, 3, 0, 0, 0).copy(out, 0);
  ph.copy(out, 52);
  interp.copy(out, interpAt);
  strtab.copy(out, strAt);
  dyn.copy(out, dynAt);
  return out;
}

/** A relocatable object with a .modinfo section, like a kernel module. */
function tinyModule(modinfoText: string): Buffer {
  const info = Buffer.from(modinfoText);
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
  const infoAt = 52;
  const shstrAt = infoAt + info.length;
  const shoff = (shstrAt + shstr.length + 3) & ~3;
  const out = Buffer.alloc(shoff + 3 * 40);
  elfHeader(1, 0, 0, shoff, 3, 2).copy(out, 0);
  info.copy(out, infoAt);
  shstr.copy(out, shstrAt);
  const sh = (i: number, name: number, type: number, offset: number, size: number) => {
    const at = shoff + i * 40;
    out.writeUInt32LE(name, at);
    out.writeUInt32LE(type, at + 4);
    out.writeUInt32LE(offset, at + 16);
    out.writeUInt32LE(size, at + 20);
  };
  sh(1, 1, 1, infoAt, info.length);
  sh(2, 10, 3, shstrAt, shstr.length);
  return out;
}

test('elf: DT_NEEDED, DT_SONAME and PT_INTERP of a built executable', () => {
  const elf = parseElf(tinyExecutable(['libpcap.so.0.8', 'libc.so.6'], 'libme.so.1'));
  assert.deepEqual(elf.needed, ['libpcap.so.0.8', 'libc.so.6']);
  assert.equal(elf.soname, 'libme.so.1');
  assert.equal(elf.interpreter, '/lib/ld-linux.so.2');
  assert.equal(elf.machine, 3);
});

test('elf: malformed files give ElfError, not garbage', () => {
  assert.equal(isElf(Buffer.from('#!/bin/sh')), false);
  assert.throws(() => parseElf(Buffer.from('#!/bin/sh\n')), /not an ELF/);
  const good = tinyExecutable(['libc.so.6']);
  assert.throws(() => parseElf(good.subarray(0, 40)), ElfError);
  assert.throws(() => parseElf(good.subarray(0, 120)), /outside/);
  const wide = Buffer.from(good);
  wide[4] = 2;
  assert.throws(() => parseElf(wide), /32-bit/);
  const badStr = Buffer.from(good);
  // Point DT_NEEDED's string offset far past the file.
  const dynAt = badStr.readUInt32LE(52 + 2 * 32 + 4);
  badStr.writeUInt32LE(0x7fffff, dynAt + 12);
  assert.throws(() => parseElf(badStr), ElfError);
});

test('elf: .modinfo of a built module', () => {
  const mod = tinyModule('license=GPL\0depends=virtio,virtio_ring\0name=virtio_net\0alias=a\0alias=b\0');
  const info = modinfo(mod);
  assert.deepEqual(info.get('depends'), ['virtio,virtio_ring']);
  assert.deepEqual(info.get('alias'), ['a', 'b']);
  assert.equal(elfSection(mod, '.text'), undefined);
  assert.throws(() => modinfo(tinyExecutable([])), /modinfo/);
});

test('elf: a real i386 tcpdump from the download cache', (t) => {
  const extracted = join(cacheDir(), 'extracted');
  const dir = existsSync(extracted) ? readdirSync(extracted).find((d) => d.startsWith('tcpdump_')) : undefined;
  if (!dir) return t.skip(`no unpacked tcpdump in ${extracted} (run 'vmswitch image build' first)`);
  const elf = parseElf(readFileSync(join(extracted, dir, 'usr/bin/tcpdump')));
  assert.equal(elf.interpreter, '/lib/ld-linux.so.2');
  assert.ok(elf.needed.includes('libpcap.so.0.8'), elf.needed.join(' '));
  assert.ok(elf.needed.includes('libc.so.6'), elf.needed.join(' '));
});
