import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32, deflateSync, inflateSync } from 'node:zlib';
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

/** A well-formed container (checksum right) whose body is `stored`, as a hostile writer could make it. */
function withHeader(header: unknown, stored: Uint8Array = deflateSync(new Uint8Array(8))): Uint8Array {
  return encodeContainer(header, stored);
}

/** A header that agrees with `state` deflated to `stored`, with `changes` on top. */
const validHeader = (state: Uint8Array, stored: Uint8Array, changes: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...content,
  format: SNAPSHOT_FORMAT,
  stateLength: state.length,
  compression: 'deflate',
  storedLength: stored.length,
  ...changes,
});

/** Random bytes (deflate cannot shrink them): a state whose body is as long as itself. */
function noise(length: number, seed = 1): Uint8Array {
  let x = seed;
  return Uint8Array.from({ length }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 24;
  });
}

test('header and v86 state round-trip; the writer stamps the format, lengths and compression', async () => {
  const state = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const bytes = await encodeSnapshot(content, state);
  const decoded = await decodeSnapshot(bytes);
  const { storedLength, ...rest } = decoded.header;
  assert.deepEqual(rest, { ...content, format: 3, stateLength: 1000, compression: 'deflate' });
  assert.ok(storedLength > 0 && storedLength < 1000, `a repetitive state is stored smaller (${storedLength})`);
  assert.deepEqual(decoded.v86State, state);
});

test('zero runs (what v86 leaves of zeroed pages) cost next to nothing', async () => {
  const state = new Uint8Array(4 << 20);
  state.set(noise(4096), 1 << 20);
  const bytes = await encodeSnapshot(content, state);
  assert.ok(bytes.length < 4096 + 20_000, `${bytes.length} bytes for 4 KiB of data in 4 MiB`);
  assert.deepEqual((await decodeSnapshot(bytes)).v86State, state);
});

test('a container inside a larger buffer (a file read into a pooled Buffer) decodes', async () => {
  const bytes = await encodeSnapshot(content, Uint8Array.of(9, 8, 7));
  const padded = new Uint8Array(bytes.length + 13);
  padded.set(bytes, 5);
  const decoded = await decodeSnapshot(padded.subarray(5, 5 + bytes.length));
  assert.deepEqual([...decoded.v86State], [9, 8, 7]);
});

test('the layout: magic, u32 LE JSON length, JSON, zlib stream of the state, u32 LE CRC-32 of all before it', async () => {
  const state = Uint8Array.of(5, 6, 7);
  const bytes = await encodeSnapshot(content, state);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), 'VMSWSNAP');
  const jsonLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength))) as Record<string, number>;
  assert.equal(header.format, 3);
  const body = bytes.subarray(12 + jsonLength, bytes.length - 4);
  assert.equal(body.length, header.storedLength);
  // Any zlib reader (the browser's DecompressionStream('deflate') included) gets the state back.
  assert.deepEqual([...inflateSync(body)], [5, 6, 7]);
  assert.equal(view.getUint32(bytes.length - 4, true), zlibCrc32(bytes.subarray(0, bytes.length - 4)));
});

test('bad input is refused with a clear error', async () => {
  const good = await encodeSnapshot(content, Uint8Array.of(1));
  await assert.rejects(decodeSnapshot(Uint8Array.of(1, 2, 3)), formatError(/truncated vmswitch snapshot \(3 bytes\)/));
  await assert.rejects(decodeSnapshot(new TextEncoder().encode('XXXXXXXX\0\0\0\0')), formatError(/bad magic/));
  await assert.rejects(decodeSnapshot(good.subarray(0, 20)), formatError(/truncated/));
  const state = new Uint8Array(8);
  const stored = deflateSync(state);
  await assert.rejects(decodeSnapshot(withHeader(validHeader(state, stored, { format: 99 }), stored)), formatError(/unsupported snapshot format 99 \(expected 3\)/));
  await assert.rejects(decodeSnapshot(withHeader(validHeader(state, stored, { compression: 'zstd' }), stored)), formatError(/compression "zstd" is not "deflate"/));
  const corrupt = good.slice();
  corrupt[13] = 0x7b; // '{' inside the JSON
  corrupt[14] = 0x7b;
  await assert.rejects(decodeSnapshot(corrupt), formatError(/not valid JSON/));
});

test('formats 1 and 2 (before the checksum, before compression) are refused with what to do', async () => {
  // Byte for byte what the format-1 writer produced.
  const json = new TextEncoder().encode(JSON.stringify({ ...content, format: 1 }));
  const old = new Uint8Array(12 + json.length + 3);
  old.set(new TextEncoder().encode('VMSWSNAP'));
  new DataView(old.buffer).setUint32(8, json.length, true);
  old.set(json, 12);
  await assert.rejects(decodeSnapshot(old), formatError(/format 1 \(no checksum\) is no longer read: boot the VM and save it again/));
  // Format 2: the same container with the state stored as it is.
  const format2 = encodeContainer({ ...content, format: 2, stateLength: 3 }, Uint8Array.of(1, 2, 3));
  await assert.rejects(decodeSnapshot(format2), formatError(/format 2 \(uncompressed\) is no longer read: boot the VM and save it again/));
});

test('a flipped bit anywhere is refused, never restored', async () => {
  // A header like the runtime's (a NIC state of a few hundred bytes) and a state blob.
  const state = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31 + (i >> 5)) & 0xff);
  const nicState = { registers: 'A'.repeat(400), rx: { head: 3, tail: 7 }, linkUp: true };
  const good = await encodeSnapshot({ ...content, nics: [{ model: 'e1000', mac: '02:00:00:00:00:01', state: nicState }] }, state);
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
    await assert.rejects(decodeSnapshot(mutant), SnapshotFormatError, `case ${i}`);
  }
  // Every single bit of the header and the checksum, exhaustively.
  const edges = [...Array.from({ length: (SNAPSHOT_HEADER_OFFSET + 600) * 8 }, (_, b) => b), ...Array.from({ length: 64 }, (_, b) => (good.length - 8) * 8 + b)];
  for (const bit of edges) {
    const mutant = good.slice();
    mutant[bit >> 3]! ^= 1 << (bit & 7);
    await assert.rejects(decodeSnapshot(mutant), SnapshotFormatError, `bit ${bit}`);
  }
});

test('every truncation and every extension is refused', async () => {
  const state = noise(300);
  const good = await encodeSnapshot(content, state);
  for (let length = 0; length < good.length; length++) await assert.rejects(decodeSnapshot(good.subarray(0, length)), SnapshotFormatError, `length ${length}`);
  const stored = (await decodeSnapshot(good)).header.storedLength;
  await assert.rejects(decodeSnapshot(good.subarray(0, good.length - 10)), formatError(new RegExp(`truncated: ${stored - 10} bytes of compressed state where the header says ${stored}`)));
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  await assert.rejects(decodeSnapshot(longer), formatError(/trailing bytes/));
});

test('a changed body is refused by the checksum', async () => {
  const good = await encodeSnapshot(content, noise(100));
  const mutant = good.slice();
  mutant[mutant.length - 50]! ^= 1; // inside the compressed state: only the checksum can tell
  await assert.rejects(decodeSnapshot(mutant), formatError(/corrupt: CRC-32 [0-9a-f]{8} where the file says [0-9a-f]{8}/));
});

test('the inflated state must be exactly stateLength: a compression bomb stops at the declared size', async () => {
  // 64 MiB of zeros in ~64 KiB: the header says 100000 bytes (so the ~64 KiB body passes the stored-length bound).
  const bomb = deflateSync(new Uint8Array(64 << 20), { level: 9 });
  const declared = new Uint8Array(100_000);
  await assert.rejects(decodeSnapshot(withHeader(validHeader(declared, bomb), bomb)), formatError(/inflates to more than the 100000 bytes the header says/));
  // With a small stateLength, the body alone is already too long to be honest.
  const state = new Uint8Array(1000);
  await assert.rejects(decodeSnapshot(withHeader(validHeader(state, bomb), bomb)), formatError(/storedLength \d+ is not an integer 0-1064/));
  // Shorter than declared, a stream that is not zlib, a stream cut short (all with a right checksum: a crafted file).
  const short = deflateSync(new Uint8Array(999));
  await assert.rejects(decodeSnapshot(withHeader(validHeader(state, short), short)), formatError(/inflates to 999 bytes where the header says 1000/));
  const notZlib = noise(50);
  await assert.rejects(decodeSnapshot(withHeader(validHeader(state, notZlib), notZlib)), formatError(/does not inflate/));
  const cut = deflateSync(noise(1000)).subarray(0, 500);
  await assert.rejects(decodeSnapshot(withHeader(validHeader(state, cut), cut)), formatError(/does not inflate/));
});

test('header fields a restore relies on are checked, each error naming the field', async () => {
  const state = new Uint8Array(8);
  const stored = deflateSync(state);
  const decode = (changes: Record<string, unknown>): Promise<unknown> => decodeSnapshot(withHeader(validHeader(state, stored, changes), stored));
  await decode({});
  await assert.rejects(decode({ nics: undefined }), formatError(/no NIC list/));
  await assert.rejects(decode({ nics: null }), formatError(/no NIC list/));
  await assert.rejects(decode({ image: {} }), formatError(/no image kernel version/));
  await assert.rejects(decode({ image: null }), formatError(/no image kernel version/));
  await assert.rejects(decode({ image: { kernelVersion: 'x'.repeat(100_000) } }), formatError(/no image kernel version/));
  await assert.rejects(decode({ image: { kernelVersion: 'k', recipeHash: 5 } }), formatError(/recipeHash 5/));
  await assert.rejects(decode({ createdAt: {} }), formatError(/createdAt \{\}/));
  await assert.rejects(decode({ nics: [{ model: 'e1000', mac: '02:00:00:00:00', state: null }] }), formatError(/NIC 0 has no valid MAC/));
  await assert.rejects(decode({ nics: [{ model: 'e1000', mac: 5, state: null }] }), formatError(/NIC 0 has no valid MAC \(5\)/));
  await assert.rejects(decode({ nics: [{ model: 'ne2k', mac: '02:00:00:00:00:01', state: null }] }), formatError(/unknown model "ne2k"/));
  await assert.rejects(decode({ nics: [null] }), formatError(/NIC 0 is not an object/));
  await assert.rejects(decode({ nics: [{ model: 'e1000', mac: '02:00:00:00:00:01' }] }), formatError(/NIC 0 has no state/));
  for (const header of [null, 5, 'text', [], true]) await assert.rejects(decodeSnapshot(withHeader(header)), formatError(/header: not an object/));
});

test('sizes are bounded: memory as `boot --mem` allows, NIC count, state and stored lengths, header length', async () => {
  const state = new Uint8Array(8);
  const stored = deflateSync(state);
  const decode = (changes: Record<string, unknown>): Promise<unknown> => decodeSnapshot(withHeader(validHeader(state, stored, changes), stored));
  for (const memoryMiB of [1e9, 0, -128, 79, 2049, 128.5, '128', null, Infinity]) {
    await assert.rejects(decode({ memoryMiB }), formatError(/memoryMiB .* is not an integer 80-2048/), `memoryMiB ${memoryMiB}`);
  }
  await decode({ memoryMiB: 80 });
  await decode({ memoryMiB: 2048 });
  const nic = content.nics[0]!;
  await decode({ nics: Array(MAX_NICS).fill(nic) });
  await assert.rejects(decode({ nics: Array(MAX_NICS + 1).fill(nic) }), formatError(/33 NICs, more than 32/));
  for (const stateLength of [-1, 1.5, '8', 1e12, 128 * 2 ** 20 + 2 ** 26 + 1]) {
    await assert.rejects(decode({ stateLength }), formatError(/stateLength .* is not an integer 0-/), `stateLength ${stateLength}`);
  }
  // A body far longer than deflate would ever make of stateLength bytes is refused before any inflating.
  for (const storedLength of [-1, 2.5, '16', 8 + 64 + 1, 2 ** 40]) {
    await assert.rejects(decode({ storedLength }), formatError(/storedLength .* is not an integer 0-72/), `storedLength ${storedLength}`);
  }
  const huge = await encodeSnapshot(content, state);
  new DataView(huge.buffer).setUint32(8, MAX_HEADER_BYTES + 1, true);
  await assert.rejects(decodeSnapshot(huge), formatError(/header length 1048577 is over the 1048576-byte limit/));
});

test('the header is read from the head alone, as the lab server lists templates', async () => {
  const bytes = await encodeSnapshot(content, noise(5000));
  const length = snapshotHeaderLength(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET));
  const header = decodeSnapshotHeader(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET + length!));
  assert.equal(length, bytes.length - SNAPSHOT_HEADER_OFFSET - header.storedLength - 4);
  assert.equal(header.stateLength, 5000);
  assert.throws(() => decodeSnapshotHeader(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET + length! - 1)), formatError(/truncated/));
  assert.equal(snapshotHeaderLength(new Uint8Array(3)), undefined);
});

test('the browser path: no Buffer, no Node zlib (web compression streams), files interchangeable with Node\'s', async () => {
  const saved = { buffer: globalThis.Buffer, getBuiltinModule: process.getBuiltinModule };
  const state = new Uint8Array(200_000);
  state.set(noise(5000), 70_000);
  const fromNode = await encodeSnapshot(content, state);
  let fromWeb: Uint8Array;
  let decodedNode: Awaited<ReturnType<typeof decodeSnapshot>>;
  let decodedWeb: Awaited<ReturnType<typeof decodeSnapshot>>;
  try {
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    fromWeb = await encodeSnapshot(content, state);
    decodedNode = await decodeSnapshot(fromNode);
    decodedWeb = await decodeSnapshot(fromWeb);
    await assert.rejects(decodeSnapshot(fromWeb.subarray(0, 4)), SnapshotFormatError);
    // The bomb and the short stream are refused by the streaming inflater too.
    const small = new Uint8Array(1000);
    const bomb = deflateSync(new Uint8Array(64 << 20), { level: 9 });
    await assert.rejects(decodeSnapshot(withHeader(validHeader(new Uint8Array(100_000), bomb), bomb)), formatError(/inflates to more than the 100000 bytes/));
    const short = deflateSync(new Uint8Array(999));
    await assert.rejects(decodeSnapshot(withHeader(validHeader(small, short), short)), formatError(/inflates to 999 bytes where the header says 1000/));
    const notZlib = noise(50);
    await assert.rejects(decodeSnapshot(withHeader(validHeader(small, notZlib), notZlib)), formatError(/does not inflate/));
  } finally {
    globalThis.Buffer = saved.buffer;
    process.getBuiltinModule = saved.getBuiltinModule;
  }
  assert.deepEqual(decodedNode.v86State, state);
  assert.deepEqual(decodedWeb.v86State, state);
  assert.deepEqual((await decodeSnapshot(fromWeb)).v86State, state);
});

test('crc32: the standard check value, zlib agreement at every tail length, and continuation', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let length = 0; length <= data.length; length += 1) assert.equal(crc32(data.subarray(0, length)), zlibCrc32(data.subarray(0, length)), `length ${length}`);
  assert.equal(crc32(data.subarray(100), crc32(data.subarray(0, 100))), crc32(data));
});
