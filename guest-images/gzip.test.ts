import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { crc32, deterministicGzip } from './gzip.ts';

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('gzip: round-trips, fixed header, same bytes every time', () => {
  const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join(''));
  const a = deterministicGzip(data);
  const b = deterministicGzip(Buffer.from(data));
  assert.deepEqual(a, b);
  assert.deepEqual(gunzipSync(a), data);
  assert.deepEqual([...a.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3], 'no mtime, no name, OS Unix');
  assert.equal(a.readUInt32LE(a.length - 4), data.length);
  assert.ok(a.length < data.length / 10);
});
