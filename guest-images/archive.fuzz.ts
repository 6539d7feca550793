// Fuzz targets for what a hostile mirror sends: ar containers, tar members,
// Release text and Packages indexes. Each parser either returns something
// within bounds or throws its typed error; nothing else. Also the small
// archive writers the tests build their fixtures with.
import type { FuzzTarget, Rng } from '../scripts/fuzz/harness.ts';
import { ArchiveFormatError, parseAr } from './ar.ts';
import { parseTar, tarToTree } from './tar.ts';
import { IndexFormatError, parsePackages, parseRelease, safePoolPath } from './release.ts';

const encoder = new TextEncoder();

export interface TarSpec {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '5' folder, 'L' GNU long name, 'x' pax header. */
  type?: string;
  data?: Uint8Array | string;
  link?: string;
  /** Overrides the size field (to lie about it). */
  size?: number;
}

function field(header: Uint8Array, offset: number, length: number, value: string): void {
  header.set(encoder.encode(value).subarray(0, length), offset);
}

/** One ustar header plus its data, padded to 512-byte blocks. */
export function tarMember(spec: TarSpec): Uint8Array {
  const data = typeof spec.data === 'string' ? encoder.encode(spec.data) : (spec.data ?? new Uint8Array(0));
  const header = new Uint8Array(512);
  field(header, 0, 100, spec.name);
  field(header, 100, 8, '0000644\0');
  field(header, 108, 8, '0000000\0');
  field(header, 116, 8, '0000000\0');
  field(header, 124, 12, `${(spec.size ?? data.length).toString(8).padStart(11, '0')}\0`);
  field(header, 136, 12, '00000000000\0');
  header[156] = (spec.type ?? '0').charCodeAt(0);
  field(header, 157, 100, spec.link ?? '');
  field(header, 257, 8, 'ustar\x0000');
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  field(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const out = new Uint8Array(512 + Math.ceil(data.length / 512) * 512);
  out.set(header);
  out.set(data, 512);
  return out;
}

/** A pax extended-header record: its length counts its own digits. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length++;
  return `${length}${body}`;
}

export function tarArchive(specs: readonly TarSpec[]): Uint8Array {
  return concat([...specs.map(tarMember), new Uint8Array(1024)]);
}

export function arArchive(members: ReadonlyArray<{ name: string; data: Uint8Array | string; size?: number }>): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode('!<arch>\n')];
  for (const m of members) {
    const data = typeof m.data === 'string' ? encoder.encode(m.data) : m.data;
    const header = `${m.name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(m.size ?? data.length).padEnd(10)}\`\n`;
    parts.push(encoder.encode(header), data);
    if (data.length & 1) parts.push(encoder.encode('\n'));
  }
  return concat(parts);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const HOSTILE_NAMES = ['../etc/passwd', '/etc/passwd', './a/../../b', 'a/./b', 'usr//bin/x', 'A', 'a', '.', './', 'x'.repeat(99), '..'];
const HOSTILE_LINKS = ['../../../../etc', '/etc/shadow', '../x', 'x/../../..', '', 'a', '.'];

function randomTar(rng: Rng): Uint8Array {
  const specs: TarSpec[] = [];
  for (let n = rng.range(1, 6); n > 0; n--) {
    const type = rng.pick(['0', '0', '5', '2', '1', 'L', 'x', '3', 'K']);
    const spec: TarSpec = { name: rng.pick(HOSTILE_NAMES.concat(['usr/bin/tool', 'lib/libc.so.6', 'lib/x'])), type, data: rng.bytes(rng.int(700)), link: rng.pick(HOSTILE_LINKS.concat(['usr/bin/tool', 'lib/x'])) };
    if (type === 'x') spec.data = rng.chance(0.5) ? paxRecord('path', rng.pick(HOSTILE_NAMES)) : rng.chance(0.5) ? paxRecord('size', String(rng.edgy())) : `${rng.int(40)} path=${rng.pick(HOSTILE_NAMES)}\n`;
    if (type === 'L') spec.data = `${rng.pick(HOSTILE_NAMES)}\0`;
    if (rng.chance(0.1)) spec.size = rng.edgy(33);
    specs.push(spec);
  }
  let bytes = tarArchive(specs);
  if (rng.chance(0.3)) bytes = bytes.subarray(0, rng.int(bytes.length));
  if (rng.chance(0.3)) for (let n = rng.range(1, 4); n > 0; n--) bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
  return bytes;
}

const RELEASE = `Origin: Debian
Suite: oldstable
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC
SHA256:
 ${'a'.repeat(64)} 1234 main/binary-i386/Packages
 ${'b'.repeat(64)} 99 main/binary-i386/Packages.xz
`;

const PACKAGES = `Package: tcpdump
Version: 4.99.3-1
Depends: libc6 (>= 2.34), libpcap0.8 (>= 1.10.0) | libpcap1
Filename: pool/main/t/tcpdump/tcpdump_4.99.3-1_i386.deb
Size: 480000
SHA256: ${'c'.repeat(64)}
Description: dump
 traffic

Package: busybox-static
Version: 1:1.35.0-4+deb12u1+b1
Filename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_i386.deb
Size: 900000
SHA256: ${'d'.repeat(64)}
`;

function mutate(rng: Rng, text: string): string {
  const lines = text.split('\n');
  switch (rng.int(5)) {
    case 0:
      return text.slice(0, rng.int(text.length));
    case 1: {
      const bytes = encoder.encode(text);
      for (let n = rng.range(1, 6); n > 0; n--) bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
      return new TextDecoder().decode(bytes);
    }
    case 2:
      lines[rng.int(lines.length)] = rng.pick(['Filename: ../../etc/passwd', 'Filename: /etc/passwd', 'Filename: pool/../x.deb', 'Filename: http://evil/x.deb', 'Size: 99999999999999999999', 'SHA256: zz', ` ${'e'.repeat(64)} -1 ../x`, 'Version: :', 'Package: ../x', 'Valid-Until: never', '', ' continuation']);
      return lines.join('\n');
    case 3:
      return lines.sort(() => rng.float() - 0.5).join('\n');
    default:
      return new TextDecoder().decode(rng.bytes(rng.int(300)));
  }
}

function expectTyped(error: unknown, ...types: Array<abstract new (...args: never[]) => Error>): void {
  if (types.some((t) => error instanceof t)) return;
  throw new Error(`not a typed parse error: ${(error as Error)?.stack ?? String(error)}`);
}

export const targets: FuzzTarget[] = [
  {
    name: 'guest-images.ar',
    quick: 3000,
    run(rng) {
      const members = Array.from({ length: rng.range(0, 4) }, () => ({ name: rng.pick(['debian-binary', 'data.tar.xz', 'x/', '/', '../x', 'a'.repeat(17)]), data: rng.bytes(rng.int(100)), ...(rng.chance(0.2) ? { size: rng.edgy(33) } : {}) }));
      let bytes = arArchive(members);
      if (rng.chance(0.3)) bytes = bytes.subarray(0, rng.int(bytes.length + 1));
      if (rng.chance(0.3)) bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
      try {
        for (const m of parseAr(bytes)) {
          if (m.data.byteOffset + m.data.length > bytes.byteOffset + bytes.length) throw new Error('member past the end');
          if (m.name.includes('/') || !m.name) throw new Error(`accepted member name ${JSON.stringify(m.name)}`);
        }
      } catch (error) {
        expectTyped(error, ArchiveFormatError);
      }
    },
  },
  {
    name: 'guest-images.tar',
    quick: 3000,
    run(rng) {
      const bytes = randomTar(rng);
      try {
        const entries = parseTar(bytes);
        for (const e of entries) {
          if (e.path.startsWith('/') || e.path.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Error(`accepted path ${JSON.stringify(e.path)}`);
          if (e.kind === 'symlink' && !e.link.startsWith('/')) {
            let depth = e.path.split('/').length - 1;
            for (const p of e.link.split('/')) {
              depth += p === '..' ? -1 : p === '' || p === '.' ? 0 : 1;
              if (depth < 0) throw new Error(`accepted symlink ${e.path} -> ${e.link} out of the tree`);
            }
          }
        }
        tarToTree(entries);
      } catch (error) {
        expectTyped(error, ArchiveFormatError);
      }
    },
  },
  {
    name: 'guest-images.release',
    quick: 3000,
    run(rng) {
      try {
        const release = parseRelease(mutate(rng, RELEASE), 'fuzz');
        for (const [path, entry] of release.sha256) {
          if (!/^[0-9a-f]{64}$/.test(entry.sha256) || !Number.isSafeInteger(entry.size) || entry.size < 0 || !path) throw new Error(`accepted ${path} ${JSON.stringify(entry)}`);
        }
      } catch (error) {
        expectTyped(error, IndexFormatError);
      }
    },
  },
  {
    name: 'guest-images.packages',
    quick: 3000,
    run(rng) {
      try {
        for (const p of parsePackages(mutate(rng, PACKAGES), 'fuzz')) {
          if (!safePoolPath(p.filename) || p.filename.includes('..') || p.filename.startsWith('/') || p.filename.includes('://')) throw new Error(`accepted Filename ${p.filename}`);
          if (!Number.isSafeInteger(p.size) || !/^[0-9a-f]{64}$/.test(p.sha256)) throw new Error(`accepted ${JSON.stringify(p)}`);
        }
      } catch (error) {
        expectTyped(error, IndexFormatError);
      }
    },
  },
];
