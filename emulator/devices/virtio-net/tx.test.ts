import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GuestErrorReason } from '../../net/drop-reasons.ts';
import type { Frame } from '../../net/frame.ts';
import { MIN_GSO_SEGMENT_SIZE, segment } from '../../net/offload.ts';
import { buildIpv4, patternBytes } from '../../net/testing.ts';
import { GSO_TCPV4, GSO_TCPV6, HDR_F_NEEDS_CSUM, NET_HDR_SIZE, writeHeader, type NetHeader } from './header.ts';
import { TestDriver } from './testing.ts';
import { featureSet, VIRTIO_F_VERSION_1 } from './features.ts';

function header(fields: Partial<NetHeader> = {}): Uint8Array {
  const bytes = new Uint8Array(NET_HDR_SIZE);
  writeHeader({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, numBuffers: 0, ...fields }, bytes);
  return bytes;
}

function started(features?: bigint): { d: TestDriver; sent: Frame[] } {
  const d = new TestDriver().start(features === undefined ? {} : { features });
  const sent: Frame[] = [];
  d.nic.setTransmitSink({ deliver: (frames) => sent.push(...frames) });
  return { d, sent };
}

test('TX: header and packet in separate descriptors become one plain frame', () => {
  const { d, sent } = started();
  const packet = patternBytes(100);
  d.tx.add([
    { addr: d.put(header()), length: NET_HDR_SIZE },
    { addr: d.put(packet.subarray(0, 30)), length: 30 },
    { addr: d.put(packet.subarray(30)), length: 70 },
  ]);
  d.tx.kick();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.data, packet);
  assert.equal(sent[0]!.csum, undefined);
  assert.equal(sent[0]!.gso, undefined);
  assert.deepEqual(d.tx.takeUsed(), [{ id: 0, len: 0 }]);
  assert.equal(d.nic.counters.txFrames, 1);
  assert.equal(d.nic.counters.txBytes, 100);
});

test('TX: header and packet sharing one descriptor (ANY_LAYOUT) and an indirect table', () => {
  const { d, sent } = started();
  const packet = patternBytes(80, 3);
  d.tx.add([{ addr: d.put(Uint8Array.of(...header(), ...packet)), length: NET_HDR_SIZE + 80 }]);
  d.tx.addIndirect(
    [
      { addr: d.put(Uint8Array.of(...header(), ...packet.subarray(0, 5))), length: NET_HDR_SIZE + 5 },
      { addr: d.put(packet.subarray(5)), length: 75 },
    ],
    d.arena,
  );
  d.tx.kick();
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[0]!.data, packet);
  assert.deepEqual(sent[1]!.data, packet);
});

test('TX: NEEDS_CSUM becomes Frame.csum', () => {
  const { d, sent } = started();
  const { data, l4 } = buildIpv4('udp', patternBytes(200), { seed: 'full' });
  d.tx.add([{ addr: d.put(Uint8Array.of(...header({ flags: HDR_F_NEEDS_CSUM, csumStart: l4, csumOffset: 6 }), ...data)), length: NET_HDR_SIZE + data.length }]);
  d.tx.kick();
  assert.deepEqual(sent[0]!.csum, { start: l4, offset: 6 });
});

test('TX: a TCPv4 GSO packet becomes Frame.gso with the header length taken from the packet', () => {
  const { d, sent } = started();
  const { data, l4, payload } = buildIpv4('tcp', patternBytes(30000), { seed: 'full' });
  // Linux puts skb_headlen() in hdr_len, often more than the headers: the device must not trust it.
  const h = header({ flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV4, gsoSize: 1448, hdrLen: 128, csumStart: l4, csumOffset: 16 });
  d.tx.add([
    { addr: d.put(h), length: NET_HDR_SIZE },
    { addr: d.put(data), length: data.length },
  ]);
  d.tx.kick();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.gso, { type: 'tcp4', segmentSize: 1448, headerLength: payload });
  assert.deepEqual(sent[0]!.csum, { start: l4, offset: 16 });
  assert.equal(sent[0]!.data.length, data.length);
});

test('TX: malformed offload requests are dropped and counted, and the buffers still come back', () => {
  const { d, sent } = started();
  const { data, l4 } = buildIpv4('tcp', patternBytes(3000), { seed: 'full' });
  const bad: [GuestErrorReason, Partial<NetHeader>][] = [
    ['tx-bad-csum-offset', { flags: HDR_F_NEEDS_CSUM, csumStart: data.length - 1, csumOffset: 16 }],
    ['tx-gso-without-csum', { gsoType: GSO_TCPV4, gsoSize: 1000 }],
    ['tx-bad-gso-size', { flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV4, gsoSize: 0, csumStart: l4, csumOffset: 16 }],
    ['tx-bad-gso-headers', { flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV6, gsoSize: 1000, csumStart: l4, csumOffset: 16 }],
    ['tx-gso-not-negotiated', { flags: HDR_F_NEEDS_CSUM, gsoType: 3, gsoSize: 1000, csumStart: l4, csumOffset: 6 }],
  ];
  for (const [, fields] of bad) d.tx.add([{ addr: d.put(Uint8Array.of(...header(fields), ...data)), length: NET_HDR_SIZE + data.length }]);
  d.tx.add([{ addr: d.put(new Uint8Array(8)), length: 8 }]);
  d.tx.kick();
  assert.equal(sent.length, 0);
  for (const [reason] of bad) assert.equal(d.nic.counters.guestErrors[reason], 1, reason);
  assert.equal(d.nic.counters.guestErrors['tx-runt'], 1);
  assert.equal(d.tx.takeUsed().length, bad.length + 1);
  assert.equal(d.nic.driverReady, true, 'a bad packet is not a broken ring');
});

test('TX: offloads the driver did not negotiate are refused', () => {
  const { d, sent } = started(featureSet(VIRTIO_F_VERSION_1));
  const { data, l4 } = buildIpv4('udp', patternBytes(100), { seed: 'full' });
  d.tx.add([{ addr: d.put(Uint8Array.of(...header({ flags: HDR_F_NEEDS_CSUM, csumStart: l4, csumOffset: 6 }), ...data)), length: NET_HDR_SIZE + data.length }]);
  d.tx.kick();
  assert.equal(sent.length, 0);
  assert.equal(d.nic.counters.guestErrors['tx-csum-not-negotiated'], 1);
});

test('TX: a frame larger than a 64 KiB GSO packet is dropped without being copied', () => {
  const { d, sent } = started();
  const big = d.arena.alloc(70000);
  const before = d.platform.memory.bytesRead;
  d.tx.add([{ addr: big, length: 70000 }]);
  d.tx.kick();
  assert.equal(sent.length, 0);
  assert.equal(d.nic.counters.guestErrors['tx-too-big'], 1);
  assert.ok(d.platform.memory.bytesRead - before < 1000);
});

test('TX: nothing moves before DRIVER_OK, and the queued work is done at DRIVER_OK', () => {
  const d = new TestDriver();
  const sent: Frame[] = [];
  d.nic.setTransmitSink({ deliver: (frames) => sent.push(...frames) });
  d.negotiate();
  for (let i = 0; i < 3; i++) d.setupQueue(i);
  d.tx.add([{ addr: d.put(new Uint8Array(NET_HDR_SIZE + 60)), length: NET_HDR_SIZE + 60 }]);
  d.tx.kick();
  assert.equal(sent.length, 0);
  d.writeCommon(0x14, 0x0f, 1);
  assert.equal(sent.length, 1);
});

test('TX: a header split across descriptors is read whole; a frame is a copy, not a view of guest memory', () => {
  const { d, sent } = started();
  const { data, l4 } = buildIpv4('udp', patternBytes(200), { seed: 'full' });
  const h = header({ flags: HDR_F_NEEDS_CSUM, csumStart: l4, csumOffset: 6 });
  const first = d.put(h.subarray(0, 5));
  d.tx.add([
    { addr: first, length: 5 },
    { addr: d.put(Uint8Array.of(...h.subarray(5), ...data)), length: NET_HDR_SIZE - 5 + data.length },
  ]);
  const single = d.put(Uint8Array.of(...header(), ...data));
  d.tx.add([{ addr: single, length: NET_HDR_SIZE + data.length }]);
  d.tx.kick();
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[0]!.csum, { start: l4, offset: 6 });
  assert.deepEqual(sent[0]!.data, data);
  d.platform.memory.bytes.fill(0xee, single, single + NET_HDR_SIZE + data.length);
  assert.deepEqual(sent[1]!.data, data, 'the guest reusing its buffer does not change a frame already sent');
});

test('TX: a GSO size below the floor (MIN_GSO_SEGMENT_SIZE) is a guest error, at the floor it is a GSO frame', () => {
  const { d, sent } = started();
  const { data, l4, payload } = buildIpv4('tcp', patternBytes(60000), { seed: 'full' });
  for (const gsoSize of [1, 16, MIN_GSO_SEGMENT_SIZE - 1, MIN_GSO_SEGMENT_SIZE]) {
    const h = header({ flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV4, gsoSize, csumStart: l4, csumOffset: 16 });
    d.tx.add([{ addr: d.put(Uint8Array.of(...h, ...data)), length: NET_HDR_SIZE + data.length }]);
  }
  d.tx.kick();
  assert.equal(d.nic.counters.guestErrors['tx-bad-gso-size'], 3);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.gso, { type: 'tcp4', segmentSize: MIN_GSO_SEGMENT_SIZE, headerLength: payload });
});

test('TX: a TCPv4 GSO packet that is an IP fragment (MF or an offset) is refused, not passed on unsegmentable', () => {
  // Found by the fuzzer: the device made a GSO frame of it that every receiver's segmenter then refused.
  const { d, sent } = started();
  for (const fragmentField of [0x2000, 0x0001, 0x4000]) {
    const { data, l3, l4 } = buildIpv4('tcp', patternBytes(3000), { seed: 'full' });
    data[l3 + 6] = fragmentField >> 8;
    data[l3 + 7] = fragmentField & 0xff;
    const h = header({ flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV4, gsoSize: 1448, csumStart: l4, csumOffset: 16 });
    d.tx.add([{ addr: d.put(Uint8Array.of(...h, ...data)), length: NET_HDR_SIZE + data.length }]);
  }
  d.tx.kick();
  assert.equal(d.nic.counters.guestErrors['tx-bad-gso-headers'], 2, 'MF, and a fragment offset');
  assert.equal(sent.length, 1, 'DF alone is no fragment');
  assert.equal(segment(sent[0]!).length, Math.ceil(3000 / 1448));
});
