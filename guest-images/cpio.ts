// The newc ("070701") cpio format the kernel unpacks as an initramfs: a writer
// that produces the same bytes for the same entries, and a parser of ours used
// by the tests (and to inspect an image).

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

export interface CpioEntry {
  /** Path without a leading slash, e.g. `bin/sh`. */
  name: string;
  /** File type and permission bits (S_IF* | 0oXXX). */
  mode: number;
  /** File contents, or the target of a symlink (UTF-8). Empty for directories and devices. */
  data: Uint8Array;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** Device number of a character/block device node. */
  rdevMajor?: number;
  rdevMinor?: number;
}

const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';
const HEADER_SIZE = 110;

export class CpioError extends Error {
  override name = 'CpioError';
}

function hex8(value: number, field: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new CpioError(`${field} ${value} does not fit a newc header`);
  return value.toString(16).padStart(8, '0');
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function headerBytes(fields: number[], name: string): Buffer {
  const names = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const text = MAGIC + fields.map((v, i) => hex8(v, names[i]!)).join('');
  return Buffer.concat([Buffer.from(text, 'latin1'), nameBytes, Buffer.alloc(pad4(HEADER_SIZE + nameBytes.length))]);
}

/**
 * Writes entries in the order given, numbering inodes 1.. in that order, then
 * the trailer. Callers sort entries (parents first) for a reproducible archive.
 */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (!e.name || e.name.startsWith('/') || e.name.split('/').some((part) => part === '' || part === '..' || part === '.')) {
      throw new CpioError(`bad entry name '${e.name}'`);
    }
    if (seen.has(e.name)) throw new CpioError(`duplicate entry '${e.name}'`);
    seen.add(e.name);
    const type = e.mode & S_IFMT;
    if (![S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR].includes(type)) throw new CpioError(`entry '${e.name}' has unsupported type 0o${type.toString(8)}`);
    const nameBytes = Buffer.byteLength(e.name, 'utf8') + 1;
    const data = type === S_IFDIR || type === S_IFCHR ? new Uint8Array(0) : e.data;
    parts.push(
      headerBytes(
        [i + 1, e.mode, e.uid ?? 0, e.gid ?? 0, type === S_IFDIR ? 2 : 1, e.mtime ?? 0, data.length, 0, 0, e.rdevMajor ?? 0, e.rdevMinor ?? 0, nameBytes, 0],
        e.name,
      ),
    );
    parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength), Buffer.alloc(pad4(data.length)));
  });
  parts.push(headerBytes([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, TRAILER.length + 1, 0], TRAILER));
  return Buffer.concat(parts);
}

export interface ParsedCpioEntry extends Required<CpioEntry> {
  ino: number;
  nlink: number;
  /** Offset of the header in the archive (for alignment checks). */
  offset: number;
}

/** Parses a newc archive up to its trailer; throws CpioError on anything malformed. */
export function parseCpio(archive: Uint8Array): ParsedCpioEntry[] {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  const out: ParsedCpioEntry[] = [];
  let at = 0;
  for (;;) {
    if (at % 4 !== 0) throw new CpioError(`header at ${at} is not 4-byte aligned`);
    if (at + HEADER_SIZE > buf.length) throw new CpioError(`archive ends inside a header at ${at} (no trailer)`);
    const magic = buf.toString('latin1', at, at + 6);
    if (magic !== MAGIC) throw new CpioError(`bad magic '${magic}' at ${at}`);
    const field = (i: number) => {
      const text = buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new CpioError(`bad header field '${text}' at ${at}`);
      return parseInt(text, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, filesize, , , rdevMajor, rdevMinor, namesize] = Array.from({ length: 12 }, (_, i) => field(i)) as number[];
    const nameStart = at + HEADER_SIZE;
    if (namesize! < 1 || nameStart + namesize! > buf.length) throw new CpioError(`bad name size ${namesize} at ${at}`);
    if (buf[nameStart + namesize! - 1] !== 0) throw new CpioError(`name at ${at} is not NUL-terminated`);
    const name = buf.toString('utf8', nameStart, nameStart + namesize! - 1);
    const dataStart = nameStart + namesize! + pad4(HEADER_SIZE + namesize!);
    if (dataStart + filesize! > buf.length) throw new CpioError(`data of '${name}' runs past the end of the archive`);
    if (name === TRAILER) return out;
    out.push({
      name, mode: mode!, uid: uid!, gid: gid!, mtime: mtime!, rdevMajor: rdevMajor!, rdevMinor: rdevMinor!, ino: ino!, nlink: nlink!, offset: at,
      data: new Uint8Array(buf.subarray(dataStart, dataStart + filesize!)),
    });
    at = dataStart + filesize! + pad4(filesize!);
  }
}
