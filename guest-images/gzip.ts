// gzip with a fixed header (no mtime, no name, OS "Unix") so the same input
// gives the same bytes on every machine running the same Node (its bundled
// zlib decides the deflate stream).
import { deflateRawSync, constants } from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function deterministicGzip(data: Uint8Array): Buffer {
  // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (max compression) OS=3 (Unix)
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
  const body = deflateRawSync(data, { level: constants.Z_BEST_COMPRESSION, memLevel: 9 });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([header, body, trailer]);
}
