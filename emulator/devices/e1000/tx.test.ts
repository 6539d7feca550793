import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, TEST_MAC, TX_BUFFERS, ethFrame } from './testing.ts';
import { CTRL_VME, ICR_TXDW, RCTL_BAM, RCTL_EN, REG, STAT } from './registers.ts';
import { NO_RX_OFFLOADS } from '../../net/frame.ts';
import { adaptForReceiver, segment } from '../../net/offload.ts';
import { buildIpv4, ipv4HeaderValid, ipv4L4Valid, asE1000TsoInput, patternBytes, referenceChecksum } from '../../net/testing.ts';

const EOP = 0x01;
const IFCS = 0x02;
const IC = 0x04;
const TSE = 0x04;
const RS = 0x08;
const VLE = 0x40;
const IDE = 0x80;
const IXSM = 0x01;
const TXSM = 0x02;

test('one legacy descriptor gives a frame, DD and TXDW', () => {
  const h = new Harness();
  h.setupTx(8);
  h.w(REG.IMS, ICR_TXDW);
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 100, 0x0800, 0x42);
  h.memory.bytes.set(frame, TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, frame.length, EOP | IFCS | RS);
  assert.equal(h.txStatus(0) & 1, 0);
  h.w(REG.TDT, 1);
  assert.equal(h.sink.frames.length, 1);
  assert.deepEqual(h.sink.frames[0]!.data, frame);
  assert.equal(h.txStatus(0) & 1, 1, 'DD written back');
  assert.equal(h.r(REG.TDH), 1);
  assert.equal(h.irq.level, true);
  assert.equal(h.r(REG.ICR) & ICR_TXDW, ICR_TXDW);
  assert.equal(h.nic.counters.txFrames, 1);
});

test('no DD without RS; short frames padded to 60 bytes with PSP; a packet may span descriptors', () => {
  const h = new Harness();
  h.setupTx(8);
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 42);
  h.memory.bytes.set(frame.subarray(0, 20), TX_BUFFERS);
  h.memory.bytes.set(frame.subarray(20), TX_BUFFERS + 0x1000);
  h.putLegacy(0, TX_BUFFERS, 20, IFCS);
  h.putLegacy(1, TX_BUFFERS + 0x1000, 22, EOP | IFCS);
  h.w(REG.TDT, 2);
  assert.equal(h.txStatus(0) & 1, 0);
  assert.equal(h.txStatus(1) & 1, 0);
  assert.equal(h.r(REG.TDH), 2);
  const sent = h.sink.frames[0]!.data;
  assert.equal(sent.length, 60);
  assert.deepEqual(sent.subarray(0, 42), frame);
  assert.ok(sent.subarray(42).every((b) => b === 0));
});

test('checksum offload gives correct TCP and UDP checksums (context + data, and legacy IC)', () => {
  for (const protocol of ['tcp', 'udp'] as const) {
    const h = new Harness();
    h.setupTx(8);
    // As Linux leaves it: pseudo-header sum in the L4 field, IP checksum 0.
    const packet = buildIpv4(protocol, patternBytes(500, 5), { seed: 'full' });
    packet.data[packet.l3 + 10] = 0;
    packet.data[packet.l3 + 11] = 0;
    h.memory.bytes.set(packet.data, TX_BUFFERS);
    const tucso = packet.l4 + (protocol === 'tcp' ? 16 : 6);
    h.putContext(0, { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso, tucse: 0, tucmd: 0x02 | (protocol === 'tcp' ? 1 : 0) });
    h.putData(1, TX_BUFFERS, packet.data.length, EOP | IFCS | RS, IXSM | TXSM);
    h.w(REG.TDT, 2);
    const [sent] = h.sink.frames;
    assert.ok(sent);
    const [wire] = adaptForReceiver(sent, NO_RX_OFFLOADS);
    assert.ok(ipv4HeaderValid(wire!.data, packet.l3), `${protocol} IP header checksum`);
    assert.ok(ipv4L4Valid(wire!.data, packet.l3), `${protocol} L4 checksum`);
    // Independently: the expected checksum over pseudo-header + segment.
    const expect = buildIpv4(protocol, patternBytes(500, 5));
    assert.deepEqual(wire!.data.subarray(tucso, tucso + 2), expect.data.subarray(tucso, tucso + 2));
  }
  // TUCSE inside the packet: computed by the device itself.
  const h = new Harness();
  h.setupTx(8);
  const packet = buildIpv4('udp', patternBytes(100, 1), { seed: 'full' });
  h.memory.bytes.set(packet.data, TX_BUFFERS);
  h.putContext(0, { tucss: packet.l4, tucso: packet.l4 + 6, tucse: packet.data.length - 1, tucmd: 0x02 });
  h.putData(1, TX_BUFFERS, packet.data.length, EOP | IFCS | RS, TXSM);
  h.w(REG.TDT, 2);
  assert.equal(h.sink.frames[0]!.csum, undefined);
  assert.ok(ipv4L4Valid(h.sink.frames[0]!.data, packet.l3));
  // Legacy: CSS/CSO with IC.
  const h2 = new Harness();
  h2.setupTx(8);
  const raw = patternBytes(80, 3);
  raw[40] = 0;
  raw[41] = 0;
  h2.memory.bytes.set(raw, TX_BUFFERS);
  h2.putLegacy(0, TX_BUFFERS, raw.length, EOP | IFCS | RS | IC, 40, 20);
  h2.w(REG.TDT, 1);
  const out = h2.sink.frames[0]!.data;
  const expectSum = referenceChecksum(raw.subarray(20));
  assert.equal((out[40]! << 8) | out[41]!, expectSum);
});

test('a 64 KiB TSO send gives the right segments (IP length, id, checksum; TCP seq, flags, checksum)', () => {
  const h = new Harness();
  h.setupTx(32);
  const payloadLength = 65536 - 54 - 10;
  const payload = patternBytes(payloadLength, 77);
  const mss = 1448;
  const packet = buildIpv4('tcp', payload, { seed: 'none', seq: 0x7ffffff0, id: 0x4321, flags: 0x18 | 0x01 | 0x80 });
  const d = packet.data;
  asE1000TsoInput(packet); // as the e1000 driver prepares it
  // Headers in one buffer, the payload over several.
  h.memory.bytes.set(d, TX_BUFFERS);
  h.putContext(0, { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso: packet.l4 + 16, tucse: 0, paylen: payloadLength, tucmd: 0x01 | 0x02 | TSE, hdrlen: packet.payload, mss });
  let index = 1;
  h.putData(index++, TX_BUFFERS, packet.payload, TSE | IFCS | IDE, IXSM | TXSM);
  for (let off = 0; off < payloadLength; off += 16384) {
    const len = Math.min(16384, payloadLength - off);
    const last = off + len >= payloadLength;
    h.putData(index++, TX_BUFFERS + packet.payload + off, len, TSE | IFCS | IDE | (last ? EOP | RS : 0), IXSM | TXSM);
  }
  h.w(REG.TDT, index);
  assert.equal(h.nic.counters.guestErrors['tso-payload-length-mismatch'], undefined);
  assert.equal(h.sink.frames.length, 1, 'one GSO frame leaves the device');
  const frame = h.sink.frames[0]!;
  assert.deepEqual(frame.gso, { type: 'tcp4', segmentSize: mss, headerLength: packet.payload });
  assert.equal(h.r(STAT.TSCTC), 1);
  assert.equal(h.r(STAT.GPTC), Math.ceil(payloadLength / mss));
  const segments = segment(frame);
  assert.equal(segments.length, Math.ceil(payloadLength / mss));
  const joined: number[] = [];
  segments.forEach((s, i) => {
    const sd = s.data;
    const last = i === segments.length - 1;
    const len = last ? payloadLength - i * mss : mss;
    assert.equal((sd[packet.l3 + 2]! << 8) | sd[packet.l3 + 3]!, 40 + len);
    assert.equal((sd[packet.l3 + 4]! << 8) | sd[packet.l3 + 5]!, (0x4321 + i) & 0xffff);
    assert.ok(ipv4HeaderValid(sd, packet.l3));
    assert.ok(ipv4L4Valid(sd, packet.l3), `segment ${i} TCP checksum`);
    const seq = ((sd[packet.l4 + 4]! << 24) | (sd[packet.l4 + 5]! << 16) | (sd[packet.l4 + 6]! << 8) | sd[packet.l4 + 7]!) >>> 0;
    assert.equal(seq, (0x7ffffff0 + i * mss) >>> 0);
    const flags = sd[packet.l4 + 13]!;
    assert.equal((flags & 0x09) !== 0, last, 'PSH/FIN only on the last');
    assert.equal((flags & 0x80) !== 0, i === 0, 'CWR only on the first');
    joined.push(...sd.subarray(packet.payload));
  });
  assert.deepEqual(Uint8Array.from(joined), payload);
  // The whole frame itself carries Linux's GSO convention: valid IP header, full-length seed.
  assert.ok(ipv4HeaderValid(frame.data, packet.l3));
});

test('UDP TSO gives one datagram per segment', () => {
  const h = new Harness();
  h.setupTx(8);
  const packet = buildIpv4('udp', patternBytes(3000, 2), { seed: 'none' });
  h.memory.bytes.set(packet.data, TX_BUFFERS);
  h.putContext(0, { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso: packet.l4 + 6, paylen: 3000, tucmd: 0x02 | TSE, hdrlen: packet.payload, mss: 1000 });
  h.putData(1, TX_BUFFERS, packet.data.length, TSE | EOP | RS, IXSM | TXSM);
  h.w(REG.TDT, 2);
  assert.equal(h.sink.frames.length, 3);
  for (const f of h.sink.frames) assert.ok(ipv4L4Valid(f.data, packet.l3) && ipv4HeaderValid(f.data, packet.l3));
});

test('VLAN insertion with CTRL.VME and VLE', () => {
  const h = new Harness();
  h.setupTx(8);
  h.w(REG.CTRL, h.r(REG.CTRL) | CTRL_VME);
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 64);
  h.memory.bytes.set(frame, TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, frame.length, EOP | IFCS | RS | VLE, 0, 0, 0x2005);
  h.w(REG.TDT, 1);
  const sent = h.sink.frames[0]!.data;
  assert.equal(sent.length, 68);
  assert.deepEqual(Array.from(sent.subarray(12, 16)), [0x81, 0x00, 0x20, 0x05]);
  assert.deepEqual(sent.subarray(16), frame.subarray(12));
});

test('MAC loopback feeds transmit into receive, as the driver self-test does, without reaching the wire', () => {
  const h = new Harness();
  h.setupRx(256, RCTL_EN | RCTL_BAM | (1 << 6));
  h.setupTx(256);
  // The driver's loopback test: 64 broadcast frames of 1024 bytes, RPS on each.
  for (let i = 0; i < 64; i++) {
    const frame = new Uint8Array(1024).fill(0xff);
    frame.fill(0xaa, 512, 1023);
    frame[522] = 0xbe;
    frame[524] = 0xaf;
    h.memory.bytes.set(frame, TX_BUFFERS + i * 2048);
    h.putLegacy(i, TX_BUFFERS + i * 2048, 1024, EOP | IFCS | 0x10);
  }
  h.w(REG.TDT, 64);
  assert.equal(h.sink.frames.length, 0);
  for (let i = 0; i < 64; i++) {
    const rx = h.rxDesc(i);
    assert.equal(rx.status & 3, 3);
    assert.equal(rx.length, 1028);
    assert.equal(rx.data[522], 0xbe);
    assert.equal(rx.data[524], 0xaf);
    assert.equal(h.txStatus(i) & 1, 1);
  }
});

test('PHY loopback (BMCR bit 14) loops TSO frames back segmented', () => {
  const h = new Harness();
  h.setupRx(64, RCTL_EN);
  h.setupTx(8);
  h.phyWrite(0, 0x4140);
  const packet = buildIpv4('tcp', patternBytes(4000), { seed: 'none', dstMac: Array.from(TEST_MAC) });
  h.memory.bytes.set(packet.data, TX_BUFFERS);
  h.putContext(0, { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso: packet.l4 + 16, paylen: 4000, tucmd: 0x01 | 0x02 | TSE, hdrlen: packet.payload, mss: 1460 });
  h.putData(1, TX_BUFFERS, packet.data.length, TSE | EOP | RS, IXSM | TXSM);
  h.w(REG.TDT, 2);
  assert.equal(h.sink.frames.length, 0);
  assert.equal(h.r(REG.RDH), 3);
  for (let i = 0; i < 3; i++) {
    const rx = h.rxDesc(i);
    assert.ok(ipv4L4Valid(rx.data, packet.l3), `segment ${i}`);
    assert.equal(rx.status & 0x60, 0x60, 'IPCS and TCPCS');
    assert.equal(rx.errors, 0);
  }
});

test('TIDV/TADV hold TXDW back so a burst costs one interrupt', () => {
  const h = new Harness();
  h.setupTx(128);
  h.w(REG.IMS, ICR_TXDW);
  h.w(REG.TIDV, 100);
  h.w(REG.TADV, 2000);
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 60);
  h.memory.bytes.set(frame, TX_BUFFERS);
  for (let i = 0; i < 20; i++) {
    h.putLegacy(i, TX_BUFFERS, 60, EOP | IFCS | RS | IDE);
    h.w(REG.TDT, i + 1);
    h.platform.timers.advance(0.05);
  }
  assert.equal(h.irq.raised, 0, 'held back while packets keep coming');
  h.platform.timers.advance(1);
  assert.equal(h.irq.raised, 1);
  assert.equal(h.sink.frames.length, 20);
  // TADV (2.05 ms) bounds the wait when packets never stop coming.
  h.r(REG.ICR);
  for (let i = 20; i < 64; i++) {
    h.putLegacy(i, TX_BUFFERS, 60, EOP | IFCS | RS | IDE);
    h.w(REG.TDT, i + 1);
    h.platform.timers.advance(0.05);
    if (h.irq.level) h.r(REG.ICR);
  }
  assert.equal(h.irq.raised, 1 + 1, 'one absolute-timer interrupt in 2.2 ms of steady traffic');
  assert.deepEqual(h.nic.counters.guestErrors, {});
});
