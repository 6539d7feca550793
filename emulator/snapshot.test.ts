import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_FORMAT, SnapshotFormatError, type SnapshotHeader } from './snapshot.ts';

const header: SnapshotHeader = {
  format: SNAPSHOT_FORMAT,
  memoryMiB: 128,
  nics: [{ model: 'e1000', mac: '02:00:00:00:00:01', state: { regs: [1, 2, 3] } }],
  image: { kernelVersion: '6.1.0-50-686', recipeHash: 'abc' },
  createdAt: '2026-01-01T00:00:00.000Z',
};

test('header and v86 state round-trip', () => {
  const state = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const decoded = decodeSnapshot(encodeSnapshot(header, state));
  assert.deepEqual(decoded.header, header);
  assert.deepEqual(decoded.v86State, state);
});

test('a container inside a larger buffer (a file read into a pooled Buffer) decodes', () => {
  const bytes = encodeSnapshot(header, Uint8Array.of(9, 8, 7));
  const padded = new Uint8Array(bytes.length + 13);
  padded.set(bytes, 5);
  const decoded = decodeSnapshot(padded.subarray(5, 5 + bytes.length));
  assert.deepEqual([...decoded.v86State], [9, 8, 7]);
});

test('bad input is refused with a clear error', () => {
  const good = encodeSnapshot(header, Uint8Array.of(1));
  assert.throws(() => decodeSnapshot(Uint8Array.of(1, 2, 3)), SnapshotFormatError);
  assert.throws(() => decodeSnapshot(new TextEncoder().encode('XXXXXXXX\0\0\0\0')), /bad magic/);
  assert.throws(() => decodeSnapshot(good.subarray(0, 20)), /truncated/);
  const wrongFormat = encodeSnapshot({ ...header, format: 99 }, Uint8Array.of(1));
  assert.throws(() => decodeSnapshot(wrongFormat), /unsupported snapshot format 99/);
  const corrupt = good.slice();
  corrupt[13] = 0x7b; // '{' inside the JSON
  corrupt[14] = 0x7b;
  assert.throws(() => decodeSnapshot(corrupt), /not valid JSON/);
  const incomplete = encodeSnapshot({ ...header, memoryMiB: 0 }, Uint8Array.of(1));
  assert.throws(() => decodeSnapshot(incomplete), /incomplete/);
});
