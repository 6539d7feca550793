import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from './crc32.ts';
import {
  decodeSnapshot,
  decodeSnapshotHeader,
  encodeContainer,
  encodeSnapshot,
  MAX_HEADER_BYTES,
  MAX_NICS,
  SNAPSHOT_FORMAT,
  SNAPSHOT_HEADER_OFFSET,
  SnapshotFormatError,
  snapshotHeaderLength,
  type SnapshotContent,
} from './snapshot.ts';

const content: SnapshotContent = {
  memoryMiB: 128,
  nics: [{ model: 'e1000', mac: '02:00:00:00:00:01', state: { regs: [1, 2, 3] } }],
  image: { kernelVersion: '6.1.0-50-686', recipeHash: 'abc' },
  createdAt: '2026-01-01T00:00:00.000Z',
};

/** A SnapshotFormatError whose message matches `pattern`. */
function formatError(pattern: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof SnapshotFormatError && pattern.test(error.message);
}

/** A well-formed container (checksum right) around this header, as a hostile writer could make it. */
function withHeader(header: unknown, state = new Uint8Array(8)): Uint8Array {
  return encodeContainer(header, state);
}

const validHeader = (state: Uint8Array, changes: Record<string, unknown> = {}): Record<string, unknown> => ({ ...content, format: SNAPSHOT_FORMAT, stateLength: state.length, ...changes });

test('header and v86 state round-trip; the writer stamps the format and the state length', () => {
  const state = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const decoded = decodeSnapshot(encodeSnapshot(content, state));
  assert.deepEqual(decoded.header, { ...content, format: 2, stateLength: 1000 });
  assert.deepEqual(decoded.v86State, state);
});

test('a container inside a larger buffer (a file read into a pooled Buffer) decodes', () => {
  const bytes = encodeSnapshot(content, Uint8Array.of(9, 8, 7));
  const padded = new Uint8Array(bytes.length + 13);
  padded.set(bytes, 5);
  const decoded = decodeSnapshot(padded.subarray(5, 5 + bytes.length));
  assert.deepEqual([...decoded.v86State], [9, 8, 7]);
});

test('the layout: magic, u32 LE JSON length, JSON, v86 state, u32 LE CRC-32 of all before it', () => {
  const state = Uint8Array.of(5, 6, 7);
  const bytes = encodeSnapshot(content, state);
  const json = new TextEncoder().encode(JSON.stringify({ ...content, format: 2, stateLength: 3 }));
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), 'VMSWSNAP');
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(view.getUint32(8, true), json.length);
  assert.deepEqual(bytes.subarray(12, 12 + json.length), json);
  assert.deepEqual([...bytes.subarray(12 + json.length, 15 + json.length)], [5, 6, 7]);
  assert.equal(bytes.length, 12 + json.length + 3 + 4);
  assert.equal(view.getUint32(bytes.length - 4, true), zlibCrc32(bytes.subarray(0, bytes.length - 4)));
});

test('bad input is refused with a clear error', () => {
  const good = encodeSnapshot(content, Uint8Array.of(1));
  assert.throws(() => decodeSnapshot(Uint8Array.of(1, 2, 3)), formatError(/truncated vmswitch snapshot \(3 bytes\)/));
  assert.throws(() => decodeSnapshot(new TextEncoder().encode('XXXXXXXX\0\0\0\0')), formatError(/bad magic/));
  assert.throws(() => decodeSnapshot(good.subarray(0, 20)), formatError(/truncated/));
  assert.throws(() => decodeSnapshot(withHeader({ ...validHeader(new Uint8Array(8)), format: 99 })), formatError(/unsupported snapshot format 99 \(expected 2\)/));
  const corrupt = good.slice();
  corrupt[13] = 0x7b; // '{' inside the JSON
  corrupt[14] = 0x7b;
  assert.throws(() => decodeSnapshot(corrupt), formatError(/not valid JSON/));
});

test('format 1 (the layout before the checksum) is refused with what to do', () => {
  // Byte for byte what the format-1 writer produced.
  const json = new TextEncoder().encode(JSON.stringify({ ...content, format: 1 }));
  const old = new Uint8Array(12 + json.length + 3);
  old.set(new TextEncoder().encode('VMSWSNAP'));
  new DataView(old.buffer).setUint32(8, json.length, true);
  old.set(json, 12);
  assert.throws(() => decodeSnapshot(old), formatError(/format 1 \(no checksum\) is no longer read: boot the VM and save it again/));
});

test('a flipped bit anywhere is refused, never restored', () => {
  // A header like the runtime's (a NIC state of a few hundred bytes) and a state blob.
  const state = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31 + (i >> 5)) & 0xff);
  const nicState = { registers: 'A'.repeat(400), rx: { head: 3, tail: 7 }, linkUp: true };
  const good = encodeSnapshot({ ...content, nics: [{ model: 'e1000', mac: '02:00:00:00:00:01', state: nicState }] }, state);
  let seed = 12345;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const mutant = good.slice();
    const flips = 1 + next(4);
    for (let f = 0; f < flips; f++) {
      const bit = next(mutant.length * 8);
      mutant[bit >> 3]! ^= 1 << (bit & 7);
    }
    if (mutant.every((byte, j) => byte === good[j])) continue; // two flips of the same bit
    assert.throws(() => decodeSnapshot(mutant), SnapshotFormatError, `case ${i}`);
  }
  // Every single bit of the header and the checksum, exhaustively.
  const edges = [...Array.from({ length: (SNAPSHOT_HEADER_OFFSET + 600) * 8 }, (_, b) => b), ...Array.from({ length: 64 }, (_, b) => (good.length - 8) * 8 + b)];
  for (const bit of edges) {
    const mutant = good.slice();
    mutant[bit >> 3]! ^= 1 << (bit & 7);
    assert.throws(() => decodeSnapshot(mutant), SnapshotFormatError, `bit ${bit}`);
  }
});

test('every truncation and every extension is refused', () => {
  const good = encodeSnapshot(content, Uint8Array.from({ length: 300 }, (_, i) => i & 0xff));
  for (let length = 0; length < good.length; length++) assert.throws(() => decodeSnapshot(good.subarray(0, length)), SnapshotFormatError, `length ${length}`);
  assert.throws(() => decodeSnapshot(good.subarray(0, good.length - 10)), formatError(/truncated: 290 bytes of v86 state where the header says 300/));
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.throws(() => decodeSnapshot(longer), formatError(/trailing bytes/));
});

test('a right checksum over a wrong body is still refused when the checksum does not match', () => {
  const good = encodeSnapshot(content, new Uint8Array(100));
  const mutant = good.slice();
  mutant[mutant.length - 50] = 1; // inside the state: only the checksum can tell
  assert.throws(() => decodeSnapshot(mutant), formatError(/corrupt: CRC-32 [0-9a-f]{8} where the file says [0-9a-f]{8}/));
});

test('header fields a restore relies on are checked, each error naming the field', () => {
  const state = new Uint8Array(8);
  const decode = (changes: Record<string, unknown>): unknown => decodeSnapshot(withHeader(validHeader(state, changes), state));
  assert.doesNotThrow(() => decode({}));
  assert.throws(() => decode({ nics: undefined }), formatError(/no NIC list/));
  assert.throws(() => decode({ nics: null }), formatError(/no NIC list/));
  assert.throws(() => decode({ image: {} }), formatError(/no image kernel version/));
  assert.throws(() => decode({ image: null }), formatError(/no image kernel version/));
  assert.throws(() => decode({ image: { kernelVersion: 'x'.repeat(100_000) } }), formatError(/no image kernel version/));
  assert.throws(() => decode({ image: { kernelVersion: 'k', recipeHash: 5 } }), formatError(/recipeHash 5/));
  assert.throws(() => decode({ createdAt: {} }), formatError(/createdAt \{\}/));
  assert.throws(() => decode({ nics: [{ model: 'e1000', mac: '02:00:00:00:00', state: null }] }), formatError(/NIC 0 has no valid MAC/));
  assert.throws(() => decode({ nics: [{ model: 'e1000', mac: 5, state: null }] }), formatError(/NIC 0 has no valid MAC \(5\)/));
  assert.throws(() => decode({ nics: [{ model: 'ne2k', mac: '02:00:00:00:00:01', state: null }] }), formatError(/unknown model "ne2k"/));
  assert.throws(() => decode({ nics: [null] }), formatError(/NIC 0 is not an object/));
  assert.throws(() => decode({ nics: [{ model: 'e1000', mac: '02:00:00:00:00:01' }] }), formatError(/NIC 0 has no state/));
  for (const header of [null, 5, 'text', [], true]) assert.throws(() => decodeSnapshot(withHeader(header)), formatError(/header: not an object/));
});

test('sizes are bounded: memory as `boot --mem` allows, NIC count, state length, header length', () => {
  const state = new Uint8Array(8);
  const decode = (changes: Record<string, unknown>): unknown => decodeSnapshot(withHeader(validHeader(state, changes), state));
  for (const memoryMiB of [1e9, 0, -128, 79, 2049, 128.5, '128', null, Infinity]) {
    assert.throws(() => decode({ memoryMiB }), formatError(/memoryMiB .* is not an integer 80-2048/), `memoryMiB ${memoryMiB}`);
  }
  assert.doesNotThrow(() => decode({ memoryMiB: 80 }));
  assert.doesNotThrow(() => decode({ memoryMiB: 2048 }));
  const nic = content.nics[0]!;
  assert.doesNotThrow(() => decode({ nics: Array(MAX_NICS).fill(nic) }));
  assert.throws(() => decode({ nics: Array(MAX_NICS + 1).fill(nic) }), formatError(/33 NICs, more than 32/));
  for (const stateLength of [-1, 1.5, '8', 1e12, 128 * 2 ** 20 + 2 ** 26 + 1]) {
    assert.throws(() => decode({ stateLength }), formatError(/stateLength .* is not an integer 0-/), `stateLength ${stateLength}`);
  }
  const huge = encodeSnapshot(content, state);
  new DataView(huge.buffer).setUint32(8, MAX_HEADER_BYTES + 1, true);
  assert.throws(() => decodeSnapshot(huge), formatError(/header length 1048577 is over the 1048576-byte limit/));
});

test('the header is read from the head alone, as the lab server lists templates', () => {
  const bytes = encodeSnapshot(content, new Uint8Array(5000));
  const length = snapshotHeaderLength(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET));
  assert.equal(length, bytes.length - SNAPSHOT_HEADER_OFFSET - 5000 - 4);
  assert.deepEqual(decodeSnapshotHeader(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET + length!)), { ...content, format: 2, stateLength: 5000 });
  assert.throws(() => decodeSnapshotHeader(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET + length! - 1)), formatError(/truncated/));
  assert.equal(snapshotHeaderLength(new Uint8Array(3)), undefined);
});

test('the container is written and read without Node Buffer (the browser worker has none)', () => {
  const saved = globalThis.Buffer;
  let decoded: ReturnType<typeof decodeSnapshot>;
  try {
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
    const encoded = encodeSnapshot(content, Uint8Array.of(5, 6, 7));
    decoded = decodeSnapshot(encoded);
    assert.throws(() => decodeSnapshot(encoded.subarray(0, 4)), SnapshotFormatError);
  } finally {
    globalThis.Buffer = saved;
  }
  assert.deepEqual(decoded.header, { ...content, format: 2, stateLength: 3 });
  assert.deepEqual([...decoded.v86State], [5, 6, 7]);
});

test('crc32: the standard check value, zlib agreement at every tail length, and continuation', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let length = 0; length <= data.length; length += 1) assert.equal(crc32(data.subarray(0, length)), zlibCrc32(data.subarray(0, length)), `length ${length}`);
  assert.equal(crc32(data.subarray(100), crc32(data.subarray(0, 100))), crc32(data));
});
