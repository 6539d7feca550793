// The pcapng bytes checked block by block against the format (draft-ietf-opsawg-pcapng):
// this runs whether tshark is installed or not, and tshark 4.0 reads some
// malformed files (an Enhanced Packet Block without its padding) without complaint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enhancedPacketBlock, interfaceDescriptionBlock, optionText, PcapngWriter } from './pcapng.ts';

interface Block {
  type: number;
  body: Uint8Array;
  view: DataView;
}

/** Splits a little-endian pcapng stream into blocks, asserting the framing of each. */
function blocks(bytes: Uint8Array): Block[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Block[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    assert.ok(offset + 12 <= bytes.length, `a block header at ${offset} runs past the end`);
    const type = view.getUint32(offset, true);
    const total = view.getUint32(offset + 4, true);
    assert.equal(total % 4, 0, `block at ${offset} (type ${type}): total length ${total} is not a multiple of 4`);
    assert.ok(total >= 12 && offset + total <= bytes.length, `block at ${offset}: total length ${total}`);
    assert.equal(view.getUint32(offset + total - 4, true), total, `block at ${offset}: trailing length differs`);
    const body = bytes.subarray(offset + 8, offset + total - 4);
    out.push({ type, body, view: new DataView(body.buffer, body.byteOffset, body.byteLength) });
    offset += total;
  }
  return out;
}

/** Options from `offset` to the body's end: each padded to 4, zero padding, ended by opt_endofopt. */
function options(block: Block, offset: number): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  if (offset === block.body.length) return found;
  for (;;) {
    assert.ok(offset + 4 <= block.body.length, 'options run past the block');
    const code = block.view.getUint16(offset, true);
    const length = block.view.getUint16(offset + 2, true);
    if (code === 0) {
      assert.equal(length, 0);
      assert.equal(offset + 4, block.body.length, 'bytes after opt_endofopt');
      return found;
    }
    const padded = (length + 3) & ~3;
    assert.ok(offset + 4 + padded <= block.body.length, `option ${code} of ${length} bytes runs past the block`);
    assert.ok(block.body.subarray(offset + 4 + length, offset + 4 + padded).every((b) => b === 0), `option ${code}: padding not zero`);
    found.set(code, block.body.slice(offset + 4, offset + 4 + length));
    offset += 4 + padded;
  }
}

/** An Enhanced Packet Block: the packet padded with zeros to 4 bytes, then its options. */
function packetOf(block: Block): { interfaceId: number; captured: Uint8Array; originalLength: number; flags?: number } {
  assert.equal(block.type, 6);
  const capturedLength = block.view.getUint32(12, true);
  const originalLength = block.view.getUint32(16, true);
  assert.ok(capturedLength <= originalLength);
  const padded = (capturedLength + 3) & ~3;
  assert.ok(20 + padded <= block.body.length, `captured ${capturedLength} bytes do not fit the block`);
  assert.ok(block.body.subarray(20 + capturedLength, 20 + padded).every((b) => b === 0), `packet padding not zero (captured ${capturedLength})`);
  const opts = options(block, 20 + padded);
  const flags = opts.get(2);
  return {
    interfaceId: block.view.getUint32(0, true),
    captured: block.body.slice(20, 20 + capturedLength),
    originalLength,
    ...(flags ? { flags: new DataView(flags.buffer).getUint32(0, true) } : {}),
  };
}

test('every packet length and direction: blocks framed, padded with zeros, read back exactly', () => {
  const writer = new PcapngWriter({ snapLength: 100 });
  const port = writer.interfaceId('p1', 'port one', 'the first port');
  const sent: { data: Uint8Array; direction?: 'inbound' | 'outbound' }[] = [];
  // 70 KB of 0xff first: the writer's 64 KiB buffer is flushed and reused, so padding left
  // unwritten would show stale 0xff bytes in the packets after.
  for (let i = 0; i < 500; i++) {
    const data = new Uint8Array(137).fill(0xff);
    sent.push({ data, direction: 'inbound' });
    writer.packet(port, i, data, 'inbound');
  }
  for (let length = 0; length <= 130; length++) {
    const data = new Uint8Array(length).fill(length === 0 ? 0 : 0xff - (length & 0x3f));
    const direction = length % 3 === 0 ? undefined : length % 3 === 1 ? 'inbound' : 'outbound';
    sent.push(direction ? { data, direction } : { data });
    writer.packet(port, 1000 + length, data, direction);
  }
  const [shb, idb, ...packets] = blocks(writer.bytes());
  assert.equal(shb!.type, 0x0a0d0d0a);
  assert.equal(idb!.type, 1);
  assert.equal(idb!.view.getUint32(4, true), 100, 'SnapLen');
  const idbOptions = options(idb!, 8);
  assert.equal(new TextDecoder().decode(idbOptions.get(2)), 'port one');
  assert.equal(new TextDecoder().decode(idbOptions.get(3)), 'the first port');
  assert.equal(packets.length, sent.length);
  packets.forEach((block, i) => {
    const packet = packetOf(block);
    const { data, direction } = sent[i]!;
    assert.equal(packet.interfaceId, port);
    assert.equal(packet.originalLength, data.length);
    assert.deepEqual(packet.captured, data.subarray(0, 100), `packet ${i}`);
    assert.equal(packet.flags, direction === undefined ? undefined : direction === 'inbound' ? 1 : 2);
  });
});

test('a packet larger than the writer buffer (its own block) is framed and padded the same', () => {
  const writer = new PcapngWriter();
  const port = writer.interfaceId('p', 'p');
  for (const length of [70001, 70002, 70003, 70004]) writer.packet(port, 0, new Uint8Array(length).fill(0xee), 'outbound');
  const packets = blocks(writer.bytes()).slice(2);
  assert.deepEqual(packets.map((block) => packetOf(block).captured.length), [70001, 70002, 70003, 70004]);
  for (const length of [1, 2, 3, 5]) packetOf(blocks(enhancedPacketBlock(0, 0, new Uint8Array(length).fill(0xaa), 262144, 'inbound'))[0]!);
});

test('snapLength NaN, negative, fractional, zero or over 32 bits is refused at construction', () => {
  for (const snapLength of [NaN, -1, 0, 1.5, Infinity, 2 ** 32]) {
    assert.throws(() => new PcapngWriter({ snapLength }), (error: Error) => error instanceof RangeError && /snapLength must be an integer from 1 to 4294967295/.test(error.message), `snapLength ${snapLength}`);
    assert.throws(() => interfaceDescriptionBlock('x', undefined, snapLength), RangeError);
    assert.throws(() => enhancedPacketBlock(0, 0, new Uint8Array(1), snapLength), RangeError);
  }
  assert.equal(new PcapngWriter({ snapLength: 1 }).snapLength, 1);
  assert.equal(new PcapngWriter({ snapLength: 0xffffffff }).snapLength, 0xffffffff);
});

test('names longer than an option holds (65,535 bytes) are cut at a UTF-8 boundary, the file stays well formed', () => {
  // 'é' is two bytes: 40,000 of them cut at 65,535 would split one.
  const long = 'é'.repeat(40_000);
  const cut = optionText(long);
  assert.equal(cut.length, 65_534);
  assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(cut), 'é'.repeat(32_767));
  assert.equal(optionText('a'.repeat(70_000)).length, 65_535);
  assert.equal(optionText('€'.repeat(30_000)).length, 65_535 - (65_535 % 3));
  assert.deepEqual(optionText('port'), new TextEncoder().encode('port'));

  const writer = new PcapngWriter({ comment: 'c'.repeat(100_000) });
  const port = writer.interfaceId('p', long, 'd'.repeat(70_000));
  writer.packet(port, 0, Uint8Array.of(1, 2, 3));
  const [shb, idb, epb] = blocks(writer.bytes());
  options(shb!, 16);
  const idbOptions = options(idb!, 8);
  assert.equal(idbOptions.get(2)!.length, 65_534);
  assert.equal(idbOptions.get(3)!.length, 65_535);
  assert.deepEqual([...packetOf(epb!).captured], [1, 2, 3]);
});
