// Reading a .deb's tar members (ustar, GNU long names, pax headers) from a
// hostile mirror: checksums checked, every size bounded by the bytes present,
// and names that leave the tree (absolute, `..`, symlinks climbing out of the
// root, hard links to nothing earlier) refused.
import { ArchiveFormatError } from './ar.ts';
import { MemoryTree } from './tree.ts';

export interface TarEntry {
  /** Relative, normalised: no leading `./` or `/`, no `.` or `..` parts. */
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'hardlink';
  data: Uint8Array;
  /** Symlink target as stored; hard-link target as a normalised path. */
  link: string;
}

const BLOCK = 512;
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

function text(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return utf8.decode(end >= 0 ? field.subarray(0, end) : field);
}

function octal(block: Uint8Array, offset: number, length: number, bad: (why: string) => Error, what: string): number {
  const field = block.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    // GNU base-256: big-endian binary after the marker bit. Anything past 2^53 is not a real member.
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + field[i]!;
      if (value > Number.MAX_SAFE_INTEGER) throw bad(`${what} too large`);
    }
    return value;
  }
  const digits = latin1.decode(field).replace(/\0.*$/s, '').trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw bad(`bad ${what} field '${digits.slice(0, 12)}'`);
  return parseInt(digits, 8);
}

/** `./usr/bin/x` -> `usr/bin/x`; '' for the root itself; throws for names that leave the tree. */
export function normaliseMemberPath(name: string, bad: (why: string) => Error): string {
  if (name.startsWith('/')) throw bad(`absolute member name '${name.slice(0, 120)}'`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad(`member name '${name.slice(0, 120)}' climbs out of the tree`);
  return parts.join('/');
}

/** Whether a relative symlink at `path` pointing at `target` stays inside the tree. */
function symlinkStaysInside(path: string, target: string): boolean {
  if (target.startsWith('/')) return true; // resolved against the tree's own root
  let depth = path.split('/').length - 1;
  for (const part of target.split('/')) {
    if (part === '..') depth--;
    else if (part !== '' && part !== '.') depth++;
    if (depth < 0) return false;
  }
  return true;
}

function paxRecords(data: Uint8Array, bad: (why: string) => Error): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) throw bad('bad pax record');
    const length = Number(latin1.decode(data.subarray(at, space)));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > data.length) throw bad('bad pax record length');
    const record = utf8.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf('=');
    if (eq <= 0) throw bad('bad pax record');
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

/** Every member of a tar archive, in order. */
export function parseTar(bytes: Uint8Array, what = 'tar member'): TarEntry[] {
  const bad = (why: string) => new ArchiveFormatError(`${what}: ${why}`);
  const entries: TarEntry[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  let at = 0;
  while (at + BLOCK <= bytes.length) {
    const header = bytes.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (octal(header, 148, 8, bad, 'checksum') !== sum) throw bad(`header checksum mismatch at offset ${at}`);
    const type = String.fromCharCode(header[156]!);
    const paxSize = pax.get('size');
    const size = paxSize !== undefined && /^\d{1,15}$/.test(paxSize) ? Number(paxSize) : octal(header, 124, 12, bad, 'size');
    const start = at + BLOCK;
    if (size > bytes.length - start) throw bad(`member claims ${size} bytes, ${bytes.length - start} remain (truncated)`);
    const data = bytes.subarray(start, start + size);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'K') {
      const value = text(data, 0, data.length);
      if (type === 'L') longName = value;
      else longLink = value;
      continue;
    }
    if (type === 'x') {
      pax = paxRecords(data, bad);
      continue;
    }
    if (type === 'g') continue;
    const magic = latin1.decode(header.subarray(257, 263));
    const prefix = magic === 'ustar\0' ? text(header, 345, 155) : '';
    const rawName = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    const rawLink = pax.get('linkpath') ?? longLink ?? text(header, 157, 100);
    longName = longLink = undefined;
    pax = new Map();
    const path = normaliseMemberPath(rawName, bad);
    const kind = type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : type === '1' ? 'hardlink' : undefined;
    if (!kind) continue; // devices and FIFOs: nothing the image reads
    if (path === '') {
      if (kind !== 'dir') throw bad('the root entry is not a folder');
      continue;
    }
    if (kind === 'symlink' && (!rawLink || !symlinkStaysInside(path, rawLink))) throw bad(`symlink '${path}' -> '${rawLink.slice(0, 120)}' points out of the tree`);
    const link = kind === 'hardlink' ? normaliseMemberPath(rawLink, bad) : rawLink;
    entries.push({ path, kind, data: kind === 'file' ? data : new Uint8Array(0), link: kind === 'file' || kind === 'dir' ? '' : link });
  }
  if (at + BLOCK > bytes.length && at < bytes.length && !bytes.subarray(at).every((b) => b === 0)) throw bad(`truncated header at offset ${at}`);
  return entries;
}

/** Tar members as an in-memory tree; a hard link must name a regular file that came earlier. */
export function tarToTree(entries: readonly TarEntry[], what = 'tar member'): MemoryTree {
  const tree = new MemoryTree();
  const files = new Map<string, Uint8Array>();
  for (const e of entries) {
    if (e.kind === 'file') {
      files.set(e.path, e.data);
      tree.add(e.path, { kind: 'file', data: e.data });
    } else if (e.kind === 'dir') {
      tree.add(e.path, { kind: 'dir' });
    } else if (e.kind === 'symlink') {
      tree.add(e.path, { kind: 'symlink', target: e.link });
    } else {
      const data = files.get(e.link);
      if (!data) throw new ArchiveFormatError(`${what}: hard link '${e.path}' names '${e.link.slice(0, 120)}', which is no earlier regular file`);
      files.set(e.path, data);
      tree.add(e.path, { kind: 'file', data });
    }
  }
  return tree;
}
