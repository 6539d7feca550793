// Issue 5: "the software segmentation gives the same segments as the e1000
// TSO path for the same input". The same TCP send is made through an e1000
// (TSO context + data descriptors, the e1000 driver's conventions) and through
// virtio-net (virtio_net_hdr, Linux's conventions); both must leave as the same
// GSO frame and be cut into the same bytes by the one software segmenter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segment } from '../../net/offload.ts';
import { asE1000TsoInput, buildIpv4, ipv4L4Valid, patternBytes } from '../../net/testing.ts';
import { Harness, TX_BUFFERS } from '../e1000/testing.ts';
import { REG } from '../e1000/registers.ts';
import type { Frame } from '../../net/frame.ts';
import { GSO_TCPV4, HDR_F_NEEDS_CSUM, NET_HDR_SIZE, writeHeader } from './header.ts';
import { TestDriver } from './testing.ts';

const TSE = 0x04;
const EOP = 0x01;
const IFCS = 0x02;
const RS = 0x08;
const IDE = 0x80;
const IXSM = 0x01;
const TXSM = 0x02;

function viaE1000(payload: Uint8Array, mss: number): Frame {
  const h = new Harness();
  h.setupTx(32);
  const packet = buildIpv4('tcp', payload, { seed: 'none', seq: 1000, id: 0x4321, flags: 0x18 });
  const d = packet.data;
  asE1000TsoInput(packet); // as the e1000 driver prepares it
  h.memory.bytes.set(d, TX_BUFFERS);
  h.putContext(0, { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso: packet.l4 + 16, tucse: 0, paylen: payload.length, tucmd: 0x01 | 0x02 | TSE, hdrlen: packet.payload, mss });
  h.putData(1, TX_BUFFERS, d.length, TSE | IFCS | IDE | EOP | RS, IXSM | TXSM);
  h.w(REG.TDT, 2);
  assert.equal(h.sink.frames.length, 1);
  return h.sink.frames[0]!;
}

function viaVirtio(payload: Uint8Array, mss: number): Frame {
  const d = new TestDriver().start();
  const frames: Frame[] = [];
  d.nic.setTransmitSink({ deliver: (f) => frames.push(...f) });
  // Linux's convention: complete IP header, TCP seeded with the full-length pseudo-header.
  const packet = buildIpv4('tcp', payload, { seed: 'full', seq: 1000, id: 0x4321, flags: 0x18 });
  const header = new Uint8Array(NET_HDR_SIZE);
  writeHeader({ flags: HDR_F_NEEDS_CSUM, gsoType: GSO_TCPV4, hdrLen: packet.payload, gsoSize: mss, csumStart: packet.l4, csumOffset: 16, numBuffers: 0 }, header);
  d.tx.add([
    { addr: d.put(header), length: NET_HDR_SIZE },
    { addr: d.put(packet.data), length: packet.data.length },
  ]);
  d.tx.kick();
  assert.equal(frames.length, 1);
  return frames[0]!;
}

for (const [payloadLength, mss] of [
  [65536 - 54 - 10, 1448],
  [10000, 536],
  [3000, 1460],
] as const) {
  test(`e1000 TSO and virtio GSO give the same frame and the same segments (${payloadLength} bytes, MSS ${mss})`, () => {
    const payload = patternBytes(payloadLength, 9);
    const fromE1000 = viaE1000(payload, mss);
    const fromVirtio = viaVirtio(payload, mss);
    assert.deepEqual(fromVirtio.gso, fromE1000.gso);
    assert.deepEqual(fromVirtio.data, fromE1000.data, 'one convention on the wire');
    const a = segment(fromE1000);
    const b = segment(fromVirtio);
    assert.equal(a.length, Math.ceil(payloadLength / mss));
    assert.equal(b.length, a.length);
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual(b[i]!.data, a[i]!.data, `segment ${i}`);
      assert.ok(ipv4L4Valid(b[i]!.data, 14));
    }
  });
}
