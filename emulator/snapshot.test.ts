import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_FORMAT, SNAPSHOT_HEADER_OFFSET, SnapshotFormatError, snapshotHeaderLength, type SnapshotHeader } from './snapshot.ts';

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

// What the browser worker reads (formerly web/worker/snapshot.test.ts, against its own reader).
const twoNics = {
  format: 1,
  memoryMiB: 128,
  nics: [
    { model: 'e1000' as const, mac: '02:00:00:00:00:01', state: { regs: [1, 2, 3] } },
    { model: 'virtio' as const, mac: '02:00:00:00:00:02', state: { queues: 3 } },
  ],
  image: { kernelVersion: '6.1.0-50-686' },
  createdAt: '2026-11-25T00:00:00Z',
};

test('reads what the Node runtime writes', () => {
  const state = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const snapshot = decodeSnapshot(encodeSnapshot(twoNics, state));
  assert.equal(snapshot.header.memoryMiB, 128);
  assert.deepEqual(snapshot.header.nics.map((n) => n.model), ['e1000', 'virtio']);
  assert.deepEqual(snapshot.header.nics.map((n) => n.mac), ['02:00:00:00:00:01', '02:00:00:00:00:02']);
  assert.deepEqual(snapshot.header.nics.map((n) => n.state), [{ regs: [1, 2, 3] }, { queues: 3 }]);
  assert.equal(snapshot.header.image.kernelVersion, '6.1.0-50-686');
  assert.deepEqual(snapshot.v86State, state);
});

test('bad snapshots are refused with a reason', () => {
  const good = encodeSnapshot(twoNics, new Uint8Array(10));
  assert.throws(() => decodeSnapshot(new TextEncoder().encode('NOTASNAPxxxx')), /bad magic/);
  assert.throws(() => decodeSnapshot(good.subarray(0, 30)), /truncated/);
  assert.throws(() => decodeSnapshot(encodeSnapshot({ ...twoNics, format: 2 }, new Uint8Array(1))), /unsupported snapshot format 2/);
  assert.throws(() => decodeSnapshot(encodeSnapshot({ ...twoNics, nics: [{ model: 'ne2k' as 'e1000', mac: 'x', state: null }] }, new Uint8Array(1))), /unknown model "ne2k"/);
  const broken = good.slice();
  broken[12] = 0x7b; // '{' where the JSON starts -> '{{...'
  broken[13] = 0x7b;
  assert.throws(() => decodeSnapshot(broken), /not valid JSON/);
  assert.equal(snapshotHeaderLength(new Uint8Array(3)), undefined);
});

test('header fields a restore relies on are checked, each error naming the field', () => {
  const decode = (changes: Record<string, unknown>): unknown => decodeSnapshot(encodeSnapshot({ ...twoNics, ...changes } as SnapshotHeader, new Uint8Array(1)));
  assert.throws(() => decode({ nics: undefined }), (error: Error) => error instanceof SnapshotFormatError && /no NIC list/.test(error.message));
  assert.throws(() => decode({ image: {} }), (error: Error) => error instanceof SnapshotFormatError && /no image kernel version/.test(error.message));
  assert.throws(() => decode({ nics: [{ model: 'e1000', mac: '02:00:00:00:00', state: null }] }), (error: Error) => error instanceof SnapshotFormatError && /NIC 0 has no valid MAC/.test(error.message));
  assert.throws(() => decodeSnapshot(encodeSnapshot(null as unknown as SnapshotHeader, new Uint8Array(1))), SnapshotFormatError);
});

test('the JSON header is read from the head alone, as the lab server lists templates', () => {
  const bytes = encodeSnapshot(twoNics, new Uint8Array(5000));
  const length = snapshotHeaderLength(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET));
  assert.equal(length, bytes.length - SNAPSHOT_HEADER_OFFSET - 5000);
  assert.deepEqual(decodeSnapshot(bytes.subarray(0, SNAPSHOT_HEADER_OFFSET + length!)).header, twoNics);
});

test('the container is written and read without Node Buffer (the browser worker has none)', () => {
  const saved = globalThis.Buffer;
  let decoded: ReturnType<typeof decodeSnapshot>;
  let encoded: Uint8Array;
  try {
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
    encoded = encodeSnapshot(header, Uint8Array.of(5, 6, 7));
    decoded = decodeSnapshot(encoded);
    assert.throws(() => decodeSnapshot(encoded.subarray(0, 4)), SnapshotFormatError);
  } finally {
    globalThis.Buffer = saved;
  }
  assert.deepEqual(decoded.header, header);
  assert.deepEqual([...decoded.v86State], [5, 6, 7]);
  // Byte for byte what the Buffer-based writer produced: existing snapshots and cached templates still load.
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  assert.deepEqual(encoded, new Uint8Array(Buffer.concat([Buffer.from('VMSWSNAP', 'latin1'), length, json, Uint8Array.of(5, 6, 7)])));
});
