import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EncodingError, decodeBase64, encodeBase64 } from './encoding.ts';

test('base64: the same text as Node for every length 0..64 and random bytes, and back', () => {
  let seed = 7;
  for (let length = 0; length <= 64; length++) {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const text = encodeBase64(bytes);
    assert.equal(text, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(decodeBase64(text), bytes);
  }
});

test('base64: malformed text is an EncodingError, never a silent decode', () => {
  for (const bad of ['A', 'AAA', 'AA=A', '====', 'AB$=', 'AAAA AAA', '=AAA', 'A===', 'Ã\u00a9AA']) {
    assert.throws(() => decodeBase64(bad), EncodingError, bad);
  }
});
