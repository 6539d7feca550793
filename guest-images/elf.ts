// Just enough ELF32 (little-endian, i386) to find what a binary needs:
// DT_NEEDED / DT_SONAME from the dynamic section, the PT_INTERP loader, and
// named sections (a kernel module's .modinfo). Every offset is bounds-checked so
// a malformed file gives a clear error instead of garbage.

export class ElfError extends Error {
  override name = 'ElfError';
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;

export interface ElfInfo {
  /** ET_EXEC 2, ET_DYN 3, ET_REL 1. */
  type: number;
  machine: number;
  interpreter?: string;
  needed: string[];
  soname?: string;
}

interface ProgramHeader {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

export function isElf(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
}

class Reader {
  readonly view: DataView;
  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  check(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.data.length) {
      throw new ElfError(`${what} at offset ${offset} (+${length}) lies outside the ${this.data.length}-byte file`);
    }
  }
  u16(offset: number): number {
    this.check(offset, 2, 'field');
    return this.view.getUint16(offset, true);
  }
  u32(offset: number): number {
    this.check(offset, 4, 'field');
    return this.view.getUint32(offset, true);
  }
  cstring(offset: number, limit = this.data.length): string {
    this.check(offset, 0, 'string');
    const end = this.data.indexOf(0, offset);
    if (end < 0 || end > limit) throw new ElfError(`unterminated string at offset ${offset}`);
    return Buffer.from(this.data.buffer, this.data.byteOffset + offset, end - offset).toString('latin1');
  }
}

function header(data: Uint8Array): Reader {
  if (!isElf(data)) throw new ElfError('not an ELF file');
  if (data.length < 52) throw new ElfError('ELF header truncated');
  if (data[4] !== 1) throw new ElfError('not a 32-bit ELF file');
  if (data[5] !== 1) throw new ElfError('not a little-endian ELF file');
  return new Reader(data);
}

function programHeaders(r: Reader): ProgramHeader[] {
  const phoff = r.u32(28);
  const phentsize = r.u16(42);
  const phnum = r.u16(44);
  if (phnum === 0) return [];
  if (phentsize < 32) throw new ElfError(`program header entry size ${phentsize} is too small`);
  r.check(phoff, phentsize * phnum, 'program header table');
  const out: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    out.push({ type: r.u32(at), offset: r.u32(at + 4), vaddr: r.u32(at + 8), filesz: r.u32(at + 16) });
  }
  return out;
}

/** Maps a virtual address to a file offset through the PT_LOAD segments. */
function fileOffset(loads: ProgramHeader[], vaddr: number): number {
  for (const p of loads) {
    if (vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz) return p.offset + (vaddr - p.vaddr);
  }
  throw new ElfError(`address 0x${vaddr.toString(16)} is in no loaded segment`);
}

export function parseElf(data: Uint8Array): ElfInfo {
  const r = header(data);
  const info: ElfInfo = { type: r.u16(16), machine: r.u16(18), needed: [] };
  const phs = programHeaders(r);
  const interp = phs.find((p) => p.type === PT_INTERP);
  if (interp) {
    r.check(interp.offset, interp.filesz, 'PT_INTERP');
    info.interpreter = r.cstring(interp.offset, interp.offset + interp.filesz);
  }
  const dynamic = phs.find((p) => p.type === PT_DYNAMIC);
  if (!dynamic) return info;
  r.check(dynamic.offset, dynamic.filesz, 'PT_DYNAMIC');
  const entries: Array<[number, number]> = [];
  for (let at = dynamic.offset; at + 8 <= dynamic.offset + dynamic.filesz; at += 8) {
    const tag = r.u32(at);
    if (tag === DT_NULL) break;
    entries.push([tag, r.u32(at + 4)]);
  }
  const strtab = entries.find(([tag]) => tag === DT_STRTAB);
  if (!strtab) throw new ElfError('dynamic section has no DT_STRTAB');
  const strOffset = fileOffset(phs.filter((p) => p.type === PT_LOAD), strtab[1]);
  for (const [tag, value] of entries) {
    if (tag === DT_NEEDED) info.needed.push(r.cstring(strOffset + value));
    else if (tag === DT_SONAME) info.soname = r.cstring(strOffset + value);
  }
  return info;
}

/** The bytes of the section called `name`, or undefined when there is none. */
export function elfSection(data: Uint8Array, name: string): Uint8Array | undefined {
  const r = header(data);
  const shoff = r.u32(32);
  const shentsize = r.u16(46);
  const shnum = r.u16(48);
  const shstrndx = r.u16(50);
  if (shnum === 0) return undefined;
  if (shentsize < 40) throw new ElfError(`section header entry size ${shentsize} is too small`);
  r.check(shoff, shentsize * shnum, 'section header table');
  if (shstrndx >= shnum) throw new ElfError(`section name table index ${shstrndx} is out of range`);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: r.u32(at), offset: r.u32(at + 16), size: r.u32(at + 20), type: r.u32(at + 4) };
  };
  const names = section(shstrndx);
  r.check(names.offset, names.size, 'section name table');
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (r.cstring(names.offset + s.name, names.offset + names.size) !== name) continue;
    const SHT_NOBITS = 8;
    if (s.type === SHT_NOBITS) return new Uint8Array(0);
    r.check(s.offset, s.size, `section ${name}`);
    return data.subarray(s.offset, s.offset + s.size);
  }
  return undefined;
}

/** A kernel module's .modinfo as key -> values (keys such as `depends` may repeat). */
export function modinfo(data: Uint8Array): Map<string, string[]> {
  const section = elfSection(data, '.modinfo');
  if (!section) throw new ElfError('no .modinfo section (not a kernel module?)');
  const out = new Map<string, string[]>();
  for (const item of Buffer.from(section).toString('latin1').split('\0')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), item.slice(eq + 1)]);
  }
  return out;
}
