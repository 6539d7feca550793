// Two virtio-net devices on a plain wire, each driven by the test driver:
// a 64 KiB TCP segment crosses whole when the receiver takes TSO, and is cut
// into checksummed segments when it does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { connectWire } from '../../net/wire.ts';
import { buildIpv4, ipv4HeaderValid, ipv4L4Valid, patternBytes } from '../../net/testing.ts';
import { featureSet, OFFERED_FEATURES, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6 } from './features.ts';
import { GSO_TCPV4, HDR_F_NEEDS_CSUM, NET_HDR_SIZE, parseHeader, writeHeader } from './header.ts';
import { TestDriver } from './testing.ts';

const MAC_A = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0x0a);
const MAC_B = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0x0b);

function sendTso(a: TestDriver, payloadLength: number, mss: number): Uint8Array {
  const { data, l4 } = buildIpv4('tcp', patternBytes(payloadLength, 5), { seed: 'full', srcMac: [...MAC_A], dstMac: [...MAC_B] });
  const header = new Uint8Array(NET_HDR_SIZE);
  writeHeader({ flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV4, hdrLen: 54, gsoSize: mss, csumStart: l4, csumOffset: 16, numBuffers: 0 }, header);
  a.tx.add([
    { addr: a.put(header), length: NET_HDR_SIZE },
    { addr: a.put(data), length: data.length },
  ]);
  a.tx.kick();
  return data;
}

function postBuffers(d: TestDriver, count: number, size: number): number[] {
  const addrs = Array.from({ length: count }, () => d.arena.alloc(size, 64));
  for (const addr of addrs) d.rx.add([{ addr, length: size, write: true }]);
  d.rx.kick();
  return addrs;
}

/** Frames as the guest sees them: header plus the reassembled packet. */
function received(d: TestDriver, addrs: number[]): { header: ReturnType<typeof parseHeader>; data: Uint8Array }[] {
  const mem = d.platform.memory;
  const used = d.rx.takeUsed();
  const out: { header: ReturnType<typeof parseHeader>; data: Uint8Array }[] = [];
  for (let i = 0; i < used.length; ) {
    const first = used[i]!;
    const header = parseHeader(mem.read(addrs[first.id]!, NET_HDR_SIZE));
    const parts = [mem.read(addrs[first.id]! + NET_HDR_SIZE, first.len - NET_HDR_SIZE)];
    for (let k = 1; k < header.numBuffers; k++) parts.push(mem.read(addrs[used[i + k]!.id]!, used[i + k]!.len));
    out.push({ header, data: Uint8Array.from(Buffer.concat(parts)) });
    i += header.numBuffers;
  }
  return out;
}

test('wire: a 64 KiB TSO packet crosses whole to a virtio-net that negotiated GUEST_TSO4', async () => {
  const a = new TestDriver({ mac: MAC_A }).start();
  const b = new TestDriver({ mac: MAC_B }).start();
  connectWire(a.nic, b.nic);
  const addrs = postBuffers(b, 64, 4096);
  const sent = sendTso(a, 64000, 1448);
  await tick();
  const got = received(b, addrs);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.header.gsoType, GSO_TCPV4);
  assert.equal(got[0]!.header.gsoSize, 1448);
  assert.deepEqual(got[0]!.data, sent);
});

test('wire: the same packet reaches a virtio-net without guest offloads as MSS-sized segments with valid checksums', async () => {
  const a = new TestDriver({ mac: MAC_A }).start();
  const noGuestOffloads = OFFERED_FEATURES & ~featureSet(VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6);
  const b = new TestDriver({ mac: MAC_B }).start({ features: noGuestOffloads });
  connectWire(a.nic, b.nic);
  const addrs = postBuffers(b, 64, 2048);
  const sent = sendTso(a, 14480, 1448);
  await tick();
  const got = received(b, addrs);
  assert.equal(got.length, 10);
  let payload = 0;
  for (const { header, data } of got) {
    assert.equal(header.gsoType, 0);
    assert.equal(header.flags & HDR_F_NEEDS_CSUM, 0);
    assert.ok(ipv4HeaderValid(data, 14));
    assert.ok(ipv4L4Valid(data, 14));
    assert.ok(data.length <= 14 + 20 + 20 + 1448);
    assert.deepEqual(data.subarray(54), sent.subarray(54 + payload, 54 + payload + data.length - 54));
    payload += data.length - 54;
  }
  assert.equal(payload, 14480);
});
