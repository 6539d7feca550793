// gzip with a fixed header (no mtime, no name, OS "Unix") so the same input
// gives the same bytes on every machine running the same Node (its bundled
// zlib decides the deflate stream).
import { deflateRawSync, constants } from 'node:zlib';
import { crc32 } from '../emulator/crc32.ts';

export { crc32 };

export function deterministicGzip(data: Uint8Array): Buffer {
  // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (max compression) OS=3 (Unix)
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
  const body = deflateRawSync(data, { level: constants.Z_BEST_COMPRESSION, memLevel: 9 });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([header, body, trailer]);
}
