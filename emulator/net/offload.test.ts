import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksum, fold, ipv4HeaderChecksum, sumBytes } from './checksum.ts';
import { MIN_GSO_SEGMENT_SIZE, OffloadError, adaptForReceiver, completeChecksum, segment, segmentUdpDatagrams } from './offload.ts';
import { NO_RX_OFFLOADS, type GsoType, type RxOffloads } from './frame.ts';
import { buildIpv4, ipv4HeaderValid, ipv4L4Valid, patternBytes, referenceChecksum } from './testing.ts';

test('checksum helpers agree with a plain RFC 1071 loop, odd lengths included', () => {
  for (const length of [0, 1, 2, 3, 19, 20, 1499, 65535]) {
    const bytes = patternBytes(length, length);
    assert.equal(checksum(bytes), referenceChecksum(bytes), `length ${length}`);
  }
  assert.equal(fold(0x1ffff), 1);
  assert.equal(fold(sumBytes(new Uint8Array(200000).fill(0xff))), 0xffff);
  const { data, l3 } = buildIpv4('udp', patternBytes(10));
  assert.equal(ipv4HeaderChecksum(data, l3), (data[l3 + 10]! << 8) | data[l3 + 11]!);
});

test('completeChecksum fills TCP and UDP checksums from a pseudo-header seed', () => {
  for (const protocol of ['tcp', 'udp'] as const) {
    const packet = buildIpv4(protocol, patternBytes(333, 7), { seed: 'full' });
    assert.equal(ipv4L4Valid(packet.data, packet.l3), false);
    const done = completeChecksum({ data: packet.data, csum: { start: packet.l4, offset: protocol === 'tcp' ? 16 : 6 } });
    assert.equal(ipv4L4Valid(done.data, packet.l3), true, protocol);
    assert.equal(done.csum, undefined);
    assert.equal(done.csumVerified, true);
  }
});

test('completeChecksum refuses offsets outside the frame', () => {
  const packet = buildIpv4('tcp', patternBytes(10));
  assert.throws(() => completeChecksum({ data: packet.data, csum: { start: packet.data.length - 1, offset: 0 } }), OffloadError);
  assert.throws(() => completeChecksum({ data: packet.data, csum: { start: 10, offset: 100000 } }), OffloadError);
  assert.throws(() => completeChecksum({ data: packet.data, csum: { start: -2, offset: 0 } }), OffloadError);
});

test('segment cuts a 64 KiB TCP/IPv4 send into correct segments', () => {
  const payload = patternBytes(65000, 3);
  const mss = 1448;
  const packet = buildIpv4('tcp', payload, { seed: 'full', seq: 0xfffff000, id: 0xfffe, flags: 0x80 | 0x18 | 0x01 });
  const segments = segment({ data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4', segmentSize: mss, headerLength: packet.payload } });
  assert.equal(segments.length, Math.ceil(65000 / mss));
  const reassembled: number[] = [];
  segments.forEach((seg, i) => {
    const d = seg.data;
    const last = i === segments.length - 1;
    const expectLength = last ? 65000 - mss * i : mss;
    assert.equal(d.length, packet.payload + expectLength);
    assert.equal((d[packet.l3 + 2]! << 8) | d[packet.l3 + 3]!, 40 + expectLength, 'IP total length');
    assert.equal((d[packet.l3 + 4]! << 8) | d[packet.l3 + 5]!, (0xfffe + i) & 0xffff, 'IP id');
    assert.ok(ipv4HeaderValid(d, packet.l3), 'IP checksum');
    assert.ok(ipv4L4Valid(d, packet.l3), `TCP checksum of segment ${i}`);
    const seq = ((d[packet.l4 + 4]! << 24) | (d[packet.l4 + 5]! << 16) | (d[packet.l4 + 6]! << 8) | d[packet.l4 + 7]!) >>> 0;
    assert.equal(seq, (0xfffff000 + i * mss) >>> 0, 'sequence');
    const flags = d[packet.l4 + 13]!;
    assert.equal((flags & 0x01) !== 0, last, 'FIN only on the last');
    assert.equal((flags & 0x08) !== 0, last, 'PSH only on the last');
    assert.equal((flags & 0x80) !== 0, i === 0, 'CWR only on the first');
    assert.equal(seg.gso, undefined);
    reassembled.push(...d.subarray(packet.payload));
  });
  assert.deepEqual(Uint8Array.from(reassembled), payload);
});

test('segment turns UFO (udp4) into IP fragments of one checksummed datagram', () => {
  const payload = patternBytes(4000, 9);
  const packet = buildIpv4('udp', payload, { seed: 'full' });
  const fragments = segment({ data: packet.data, csum: { start: packet.l4, offset: 6 }, gso: { type: 'udp4', segmentSize: 1473, headerLength: packet.payload } });
  // 1473 rounds down to 1472 bytes of IP payload per fragment; 4008 bytes of UDP in total.
  assert.equal(fragments.length, 3);
  const ipPayload: number[] = [];
  fragments.forEach((f, i) => {
    const d = f.data;
    assert.ok(ipv4HeaderValid(d, packet.l3));
    const flagsOffset = (d[packet.l3 + 6]! << 8) | d[packet.l3 + 7]!;
    assert.equal((flagsOffset & 0x1fff) * 8, i * 1472, 'fragment offset');
    assert.equal((flagsOffset & 0x2000) !== 0, i < 2, 'MF on all but the last');
    assert.equal((d[packet.l3 + 4]! << 8) | d[packet.l3 + 5]!, 0x1234, 'same id on every fragment');
    assert.equal((d[packet.l3 + 2]! << 8) | d[packet.l3 + 3]!, d.length - packet.l3);
    ipPayload.push(...d.subarray(packet.l4));
  });
  // Reassemble and check the UDP checksum over the whole datagram.
  const whole = new Uint8Array(packet.l4 + ipPayload.length);
  whole.set(packet.data.subarray(0, packet.l4));
  whole.set(ipPayload, packet.l4);
  whole[packet.l3 + 2] = (whole.length - packet.l3) >> 8;
  whole[packet.l3 + 3] = (whole.length - packet.l3) & 0xff;
  assert.ok(ipv4L4Valid(whole, packet.l3));
  assert.deepEqual(whole.subarray(packet.payload), payload);
});

test('segmentUdpDatagrams gives one valid datagram per segment', () => {
  const packet = buildIpv4('udp', patternBytes(3000, 1), { seed: 'none' });
  const datagrams = segmentUdpDatagrams(packet.data, 1000);
  assert.equal(datagrams.length, 3);
  for (const [i, d] of datagrams.map((f) => f.data).entries()) {
    assert.ok(ipv4HeaderValid(d, packet.l3));
    assert.ok(ipv4L4Valid(d, packet.l3));
    assert.equal((d[packet.l4 + 4]! << 8) | d[packet.l4 + 5]!, 1008);
    assert.equal((d[packet.l3 + 4]! << 8) | d[packet.l3 + 5]!, 0x1234 + i);
  }
});

test('segment rejects malformed GSO frames whole', () => {
  const packet = buildIpv4('tcp', patternBytes(5000), { seed: 'full' });
  const bad = (type: GsoType, segmentSize: number, data = packet.data) =>
    assert.throws(() => segment({ data, csum: { start: packet.l4, offset: 16 }, gso: { type, segmentSize, headerLength: packet.payload } }), OffloadError);
  bad('tcp4', 0);
  bad('tcp4', -5);
  bad('tcp4', 1.5);
  bad('tcp6', 1000);
  bad('udp4', 1000);
  bad('tcp4', 1, new Uint8Array(70000));
  bad('tcp4', 1000, packet.data.subarray(0, 40));
  const tinyMss = buildIpv4('tcp', patternBytes(60000));
  bad('tcp4', 1, tinyMss.data);
  const badDoff = packet.data.slice();
  badDoff[packet.l4 + 12] = 0x20;
  bad('tcp4', 1000, badDoff);
});

test('adaptForReceiver passes what the receiver takes and resolves the rest', () => {
  const packet = buildIpv4('tcp', patternBytes(3000), { seed: 'full' });
  const frame = { data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4' as const, segmentSize: 1000, headerLength: packet.payload } };
  const full: RxOffloads = { csum: true, gso: new Set<GsoType>(['tcp4']), maxFrameSize: 65550 };
  assert.deepEqual(adaptForReceiver(frame, full), [frame]);
  assert.equal(adaptForReceiver(frame, NO_RX_OFFLOADS).length, 3);
  assert.equal(adaptForReceiver(frame, { ...full, maxFrameSize: 1500 }).length, 3);
  const small = buildIpv4('udp', patternBytes(100), { seed: 'full' });
  const csumOnly = { data: small.data, csum: { start: small.l4, offset: 6 } };
  assert.equal(adaptForReceiver(csumOnly, full)[0], csumOnly);
  const [done] = adaptForReceiver(csumOnly, NO_RX_OFFLOADS);
  assert.ok(ipv4L4Valid(done!.data, small.l3));
});

test('UDP segmentation (UFO fragments and e1000 UDP TSO datagrams) refuses a segment size below the floor', () => {
  const packet = buildIpv4('udp', patternBytes(60000), { seed: 'full' });
  const refused = (error: unknown) => error instanceof OffloadError && error.reason === 'bad-gso-segment-size';
  for (const size of [8, 16, MIN_GSO_SEGMENT_SIZE - 1]) {
    assert.throws(() => segment({ data: packet.data, csum: { start: packet.l4, offset: 6 }, gso: { type: 'udp4', segmentSize: size, headerLength: packet.payload } }), refused, `UFO ${size}`);
    assert.throws(() => segmentUdpDatagrams(packet.data, size), refused, `datagrams ${size}`);
  }
  const atFloor = segment({ data: packet.data, csum: { start: packet.l4, offset: 6 }, gso: { type: 'udp4', segmentSize: MIN_GSO_SEGMENT_SIZE, headerLength: packet.payload } });
  assert.equal(atFloor.length, Math.ceil(60008 / MIN_GSO_SEGMENT_SIZE));
  assert.equal(segmentUdpDatagrams(packet.data, MIN_GSO_SEGMENT_SIZE).length, Math.ceil(60000 / MIN_GSO_SEGMENT_SIZE));
});
