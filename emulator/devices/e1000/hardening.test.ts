// A hostile or buggy guest: every case ends within bounded work, touches
// nothing outside guest RAM (FakeMemory refuses and logs such attempts, and
// the device must catch them), counts a guest error, and the device works
// again after the driver resets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, RX_BUFFERS, RX_RING, TEST_MAC, TX_BUFFERS, TX_RING, ethFrame } from './testing.ts';
import { CTRL_RST, RCTL_EN, REG, STAT } from './registers.ts';
import type { GuestErrorReason } from '../../net/drop-reasons.ts';
import { TX_BYTES_PER_KICK, TX_DESCRIPTORS_PER_KICK } from './tx.ts';
import { buildIpv4, patternBytes } from '../../net/testing.ts';

const EOP = 0x01;
const IFCS = 0x02;
const IC = 0x04;
const TSE = 0x04;
const RS = 0x08;
const MEMORY = 8 * 1024 * 1024;

function worksAfterReset(h: Harness): void {
  h.w(REG.CTRL, CTRL_RST);
  h.setupTx(8);
  h.setupRx(8, RCTL_EN);
  const sentBefore = h.sink.frames.length;
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 80);
  h.memory.bytes.set(frame, TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, frame.length, EOP | IFCS | RS);
  h.w(REG.TDT, 1);
  assert.equal(h.sink.frames.length, sentBefore + 1, 'transmits after reset');
  assert.equal(h.txStatus(0) & 1, 1);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 70) }]);
  assert.equal(h.r(REG.RDH), 1, 'receives after reset');
}

/** Every DMA the fake RAM refused was caught by the device and counted as a guest error, once. */
function everyRefusedDmaCounted(h: Harness): void {
  const errors = h.nic.counters.guestErrors;
  const counted = (errors['tx-dma-outside-ram'] ?? 0) + (errors['rx-dma-outside-ram'] ?? 0);
  assert.equal(h.memory.refused.length, counted, `refused ${JSON.stringify(h.memory.refused)}, counted ${JSON.stringify(errors)}`);
}

type Range = readonly [start: number, end: number];

/**
 * A copy of guest RAM now; the returned check fails if the device has since
 * written any byte outside `allowed` (the rings and buffers the test set up):
 * a device fooled by a hostile ring must not scribble over the rest of RAM.
 */
function watchRam(h: Harness): (allowed: readonly Range[], what: string) => void {
  const before = h.memory.bytes.slice();
  return (allowed, what) => {
    const now = h.memory.bytes;
    for (let at = 0; at < now.length; at++) {
      if (now[at] !== before[at] && !allowed.some(([start, end]) => at >= start && at < end)) {
        assert.fail(`${what}: the device wrote 0x${now[at]!.toString(16)} at 0x${at.toString(16)}, outside the rings and buffers set up`);
      }
    }
  };
}

const txRing = (count: number): Range => [TX_RING, TX_RING + 16 * count];
const rxRing = (count: number): Range => [RX_RING, RX_RING + 16 * count];
const rxBuffers = (count: number): Range => [RX_BUFFERS, RX_BUFFERS + 2048 * count];

test('TX ring length 0, head or tail beyond the ring: nothing is read, an error is counted', () => {
  const h = new Harness(MEMORY);
  h.setupTx(8);
  h.w(REG.TDLEN, 0);
  h.w(REG.TDT, 5);
  assert.equal(h.memory.bytesRead, 0);
  h.w(REG.TDLEN, 8 * 16);
  h.w(REG.TDT, 200);
  assert.equal(h.nic.counters.guestErrors['tx-head-or-tail-beyond-ring'], 1);
  h.w(REG.TDT, 3);
  assert.equal(h.memory.bytesRead, 0, 'a failed ring stays stopped until reprogrammed');
  h.w(REG.TDH, 100);
  h.w(REG.TDT, 3);
  assert.equal(h.nic.counters.guestErrors['tx-head-or-tail-beyond-ring'], 2);
  worksAfterReset(h);
});

test('TX ring base beyond RAM, or with a non-zero high word: refused DMA, counted', () => {
  for (const [low, high] of [[MEMORY - 32, 0], [0xfffffff0, 0], [TX_RING, 1]] as const) {
    const h = new Harness(MEMORY);
    h.setupTx(8);
    const unchanged = watchRam(h);
    h.w(REG.TDBAL, low);
    h.w(REG.TDBAH, high);
    h.w(REG.TDT, 4);
    assert.equal(h.nic.counters.guestErrors['tx-dma-outside-ram'], 1, `base ${high}:${low.toString(16)}`);
    assert.ok(h.memory.refused.length >= 1);
    everyRefusedDmaCounted(h);
    // The ring at TX_RING was abandoned (TDBAL moved); where TDBAL points now is partly RAM, and no write-back went there either.
    unchanged([], `base ${high}:${low.toString(16)}`);
    worksAfterReset(h);
  }
});

test('TX buffers beyond RAM, straddling its end, or in the high address space are refused', () => {
  for (const [addr, high] of [[MEMORY - 10, 0], [0xfec00000, 0], [TX_BUFFERS, 0xffffffff]] as const) {
    const h = new Harness(MEMORY);
    h.setupTx(8);
    h.putData(0, addr, 100, EOP | RS, 0, 0, high);
    const unchanged = watchRam(h);
    h.w(REG.TDT, 1);
    assert.equal(h.sink.frames.length, 0);
    assert.equal(h.nic.counters.guestErrors['tx-dma-outside-ram'], 1);
    everyRefusedDmaCounted(h);
    unchanged([txRing(8)], `buffer ${high}:${addr.toString(16)}`);
    worksAfterReset(h);
  }
});

test('a chain with no EOP around the whole ring, with huge lengths, stays bounded and is dropped at the cap', () => {
  const h = new Harness(MEMORY);
  const count = 4096;
  h.setupTx(count);
  for (let i = 0; i < count; i++) h.putData(i, TX_BUFFERS, 0xfffff, 0);
  h.memory.bytesRead = 0;
  h.w(REG.TDT, count - 1);
  // At most one packet's worth of buffer bytes plus the descriptors themselves.
  assert.ok(h.memory.bytesRead <= 65536 + TX_DESCRIPTORS_PER_KICK * 16, `read ${h.memory.bytesRead} bytes`);
  assert.ok(h.r(REG.TDH) <= TX_DESCRIPTORS_PER_KICK, 'the rest is deferred');
  // Deferred work continues on the timer, still bounded per step.
  for (let step = 0; step < 10 && h.r(REG.TDH) !== count - 1; step++) h.platform.timers.advance(1);
  assert.equal(h.r(REG.TDH), count - 1);
  // Close the packet: it is over 64 KiB and is dropped.
  h.putData(count - 1, TX_BUFFERS, 10, EOP | RS);
  h.w(REG.TDT, 0);
  assert.equal(h.sink.frames.length, 0);
  assert.equal(h.nic.counters.guestErrors['tx-too-big'], 1);
  assert.equal(h.txStatus(count - 1) & 1, 1, 'DD still written: the driver does not hang');
  assert.ok(TX_BYTES_PER_KICK >= 65536);
  worksAfterReset(h);
});

test('invalid TSO fields (MSS 0, HDRLEN 0 or > 240, lengths that disagree, wrong offsets) drop the packet, count, and complete the descriptors', () => {
  const packet = buildIpv4('tcp', patternBytes(3000), { seed: 'none' });
  const good = { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso: packet.l4 + 16, paylen: 3000, tucmd: 0x07, hdrlen: packet.payload, mss: 1000 };
  const cases: [GuestErrorReason, Partial<typeof good>][] = [
    ['bad-tso-segment-size', { mss: 0 }],
    ['bad-tso-header-length', { hdrlen: 0 }],
    ['bad-tso-header-length', { hdrlen: 241 }],
    ['tso-payload-length-mismatch', { paylen: 100000 }],
    ['tso-payload-length-mismatch', { paylen: 10 }],
    ['tso-offsets-mismatch', { tucss: 200 }],
    ['tso-header-length-mismatch', { hdrlen: 60, paylen: packet.data.length - 60 }],
    ['tso-checksum-offset-mismatch', { tucso: 250 }],
    ['tso-ip-version-mismatch', { tucmd: 0x05 }],
  ];
  for (const [reason, change] of cases) {
    const h = new Harness(MEMORY);
    h.setupTx(8);
    h.memory.bytes.set(packet.data, TX_BUFFERS);
    h.putContext(0, { ...good, ...change });
    h.putData(1, TX_BUFFERS, packet.data.length, TSE | EOP | RS, 3);
    h.w(REG.TDT, 2);
    assert.equal(h.sink.frames.length, 0, reason);
    assert.equal(h.nic.counters.guestErrors[reason], 1, `${reason}: ${JSON.stringify(h.nic.counters.guestErrors)}`);
    assert.equal(h.r(STAT.TSCTFC), 1);
    assert.equal(h.txStatus(1) & 1, 1);
    worksAfterReset(h);
  }
});

test('checksum offsets outside the packet (CSO, TUCSO, IPCSO, TUCSS, IPCSE) are refused, the frame still goes out', () => {
  const h = new Harness(MEMORY);
  h.setupTx(16);
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 60);
  h.memory.bytes.set(frame, TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, 60, EOP | RS | IC, 250, 14);
  h.putContext(1, { tucss: 200, tucso: 210, tucse: 0, ipcss: 14, ipcso: 250, ipcse: 30 });
  h.putData(2, TX_BUFFERS, 60, EOP | RS, 3);
  h.putContext(3, { tucss: 14, tucso: 20, tucse: 5000 });
  h.putData(4, TX_BUFFERS, 60, EOP | RS, 2);
  h.w(REG.TDT, 5);
  assert.equal(h.sink.frames.length, 3);
  assert.equal(h.nic.counters.guestErrors['checksum-offsets-outside-packet'], 4);
  worksAfterReset(h);
});

test('RX: ring length 0 queues, head/tail beyond the ring and bases or buffers outside RAM are refused', () => {
  const h = new Harness(MEMORY);
  h.setupRx(8, RCTL_EN);
  h.w(REG.RDLEN, 0);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.equal(h.memory.bytesWritten > 0 && h.memory.refused.length > 0, false);
  h.w(REG.RDLEN, 8 * 16);
  h.w(REG.RDT, 100);
  assert.equal(h.nic.counters.guestErrors['rx-head-or-tail-beyond-ring'], 1);
  worksAfterReset(h);

  const cases: [number, number, number][] = [
    [MEMORY, 0, 0],
    [RX_RING, 1, 0],
    [RX_RING, 0, MEMORY - 20],
    [RX_RING, 0, 0xffffff00],
  ];
  for (const [base, high, buffer] of cases) {
    const r = new Harness(MEMORY);
    r.setupRx(8, RCTL_EN);
    if (buffer) r.memory.writeU32(RX_RING, buffer);
    r.w(REG.RDBAL, base);
    r.w(REG.RDBAH, high);
    const unchanged = watchRam(r);
    r.nic.receive([{ data: ethFrame(TEST_MAC, 100) }]);
    assert.equal(r.nic.counters.guestErrors['rx-dma-outside-ram'], 1);
    everyRefusedDmaCounted(r);
    // Only a ring the device really uses (the base is RX_RING) may get a descriptor written back.
    unchanged(base === RX_RING && high === 0 ? [rxRing(8), rxBuffers(8)] : [], `base ${high}:${base.toString(16)}, buffer ${buffer.toString(16)}`);
    worksAfterReset(r);
  }
});

test('without bus mastering the device does no DMA at all', () => {
  const h = new Harness(MEMORY);
  h.setupTx(8);
  h.setupRx(8, RCTL_EN);
  h.fn.busMaster = false;
  h.memory.bytesRead = 0;
  h.memory.bytesWritten = 0;
  h.putLegacy(0, TX_BUFFERS, 60, EOP | RS);
  const written = h.memory.bytesWritten;
  h.w(REG.TDT, 1);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.equal(h.memory.bytesRead, 0);
  assert.equal(h.memory.bytesWritten, written);
  h.fn.busMaster = true;
  h.w(REG.TDT, 1);
  assert.equal(h.sink.frames.length, 1, 'works once bus mastering is on');
});

test('random register writes and random descriptors never throw, hang or escape RAM', () => {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const h = new Harness(MEMORY);
  h.setupTx(64);
  h.setupRx(64, RCTL_EN);
  // Garbage in the rings.
  for (let i = 0; i < 64 * 16; i += 4) {
    h.memory.writeU32(TX_RING + i, random() * 2);
    h.memory.writeU32(RX_RING + i, random() * 2);
  }
  const offsets = Object.values(REG).filter((o) => o !== REG.CTRL) as number[];
  for (let i = 0; i < 20000; i++) {
    const offset = random() % 3 === 0 ? offsets[random() % offsets.length]! : (random() % 0x20000) & ~3;
    const sizes = [1, 2, 4] as const;
    const size = sizes[random() % 3]!;
    h.w(offset + (size === 4 ? 0 : random() % (4 - size + 1)), random() * 2, size);
    if (i % 97 === 0) h.nic.receive([{ data: ethFrame(TEST_MAC, 60 + (random() % 1500)) }]);
    if (i % 50 === 0) h.platform.timers.advance(1);
  }
  assert.ok(h.memory.refused.length > 0, 'the walk reached a DMA outside RAM (not a check that cannot fail)');
  everyRefusedDmaCounted(h);
  worksAfterReset(h);
});
