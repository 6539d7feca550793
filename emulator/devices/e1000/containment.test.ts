// Issue 12 (containment): what one guest can make its own e1000 do must not
// take the process down or leave the device's documented bounds: a VLAN tag
// that does not fit its frame, runts on the wire, a TSO segment size below
// the floor, and the transmit continuation's work per timer slice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, RX_RING, TEST_MAC, TX_BUFFERS, ethFrame } from './testing.ts';
import { MAX_FRAME_LPE } from './rx.ts';
import { DeviceStateError } from '../state-error.ts';
import { encodeBase64 } from '../../encoding.ts';
import { CTRL_VME, RCTL_EN, RCTL_VFE, REG, STAT, TCTL_EN, TCTL_PSP } from './registers.ts';
import { TX_BYTES_PER_KICK, TX_DESCRIPTORS_PER_KICK } from './tx.ts';
import { MIN_GSO_SEGMENT_SIZE } from '../../net/offload.ts';
import { buildIpv4, patternBytes } from '../../net/testing.ts';

const EOP = 0x01;
const IFCS = 0x02;
const TSE = 0x04;
const RS = 0x08;
const VLE = 0x40;
const RCTL_LBM_MAC = 1 << 6;

/** A frame to our MAC whose ethertype is the VLAN TPID, `length` bytes long (the tag, if any fits, says VLAN 5). */
function claimsTag(length: number): Uint8Array {
  const frame = ethFrame(TEST_MAC, length, 0x8100, 0x00);
  if (length > 15) frame[15] = 5;
  if (length > 17) frame.set([0x08, 0x00], 16);
  return frame;
}

function strippingHarness(rctl = RCTL_EN): Harness {
  const h = new Harness();
  h.setupRx(16, rctl);
  h.w(REG.CTRL, h.r(REG.CTRL) | CTRL_VME);
  return h;
}

test('VLAN strip: a frame claiming a tag it cannot hold (14-17 bytes) is dropped and counted, never thrown on or shortened', () => {
  for (const length of [14, 15, 16, 17]) {
    const h = strippingHarness();
    h.nic.receive([{ data: claimsTag(length) }]);
    assert.equal(h.r(REG.RDH), 0, `${length} bytes: nothing reaches the ring`);
    assert.deepEqual(h.nic.counters.rxDropped, { 'malformed-vlan-tag': 1 }, `${length} bytes`);
    assert.equal(h.r(STAT.RUC), 1, 'counted as undersize, as a runt is');
  }
});

test('VLAN strip: an 18-byte frame is a tag and no payload: the guest gets the 14-byte header, VP and the tag', () => {
  const h = strippingHarness();
  h.nic.receive([{ data: claimsTag(18) }]);
  assert.equal(h.r(REG.RDH), 1);
  const rx = h.rxDesc(0);
  assert.equal(rx.length, 14 + 4, 'header + FCS');
  assert.equal(rx.status & 0x0b, 0x0b, 'DD, EOP, VP');
  assert.equal(rx.special, 5);
  assert.deepEqual(Array.from(rx.data.subarray(12, 14)), [0x08, 0x00], 'the inner ethertype');
  assert.deepEqual(h.nic.counters.rxDropped, {});
});

test('VLAN filter without strip: a short frame claiming a tag is dropped, not filtered on bytes past its end', () => {
  const h = new Harness();
  h.setupRx(16, RCTL_EN | RCTL_VFE);
  h.w(REG.VFTA, 1); // VLAN 0 allowed: the missing TCI bytes would read as VLAN 0
  h.nic.receive([{ data: claimsTag(14) }, { data: claimsTag(17) }]);
  assert.equal(h.r(REG.RDH), 0);
  assert.deepEqual(h.nic.counters.rxDropped, { 'malformed-vlan-tag': 2 });
});

test('without VME or VFE the tag is not looked at: a 14-byte frame with the TPID is an ordinary frame', () => {
  const h = new Harness();
  h.setupRx(16, RCTL_EN);
  h.nic.receive([{ data: claimsTag(14) }]);
  assert.equal(h.r(REG.RDH), 1);
  assert.equal(h.rxDesc(0).length, 18);
});

test('VLAN strip through MAC loopback: one guest sends itself 14-18 byte tagged frames without crashing its VM', () => {
  for (const length of [14, 15, 16, 17, 18]) {
    const h = strippingHarness(RCTL_EN | RCTL_LBM_MAC);
    h.setupTx(8, TCTL_EN); // no PSP: short frames stay short
    h.memory.bytes.set(claimsTag(length), TX_BUFFERS);
    h.putLegacy(0, TX_BUFFERS, length, EOP | IFCS | RS);
    h.w(REG.TDT, 1);
    assert.equal(h.sink.frames.length, 0, 'loopback never reaches the wire');
    assert.equal(h.txStatus(0) & 1, 1, 'the descriptor completes');
    if (length < 18) {
      assert.deepEqual(h.nic.counters.rxDropped, { 'malformed-vlan-tag': 1 }, `${length} bytes`);
      assert.equal(h.r(REG.RDH), 0);
    } else {
      assert.equal(h.r(REG.RDH), 1);
      assert.equal(h.rxDesc(0).length, 18);
    }
  }
});

test('VLAN insertion then strip through PHY loopback: a 14-byte packet with VLE comes back as 14 bytes with its tag', () => {
  const h = strippingHarness();
  h.phyWrite(0, 0x4140);
  h.setupTx(8, TCTL_EN);
  h.memory.bytes.set(ethFrame(TEST_MAC, 14), TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, 14, EOP | IFCS | RS | VLE, 0, 0, 7);
  h.w(REG.TDT, 1);
  assert.equal(h.r(REG.RDH), 1);
  assert.equal(h.rxDesc(0).special, 7);
  assert.equal(h.rxDesc(0).length, 18);
});

test('transmit: a packet shorter than an Ethernet header never reaches the wire (guest error tx-runt); PSP pads it to 60', () => {
  const h = new Harness();
  h.setupTx(8, TCTL_EN);
  h.memory.bytes.set(ethFrame([0x02, 0, 0, 0, 0, 2], 14), TX_BUFFERS);
  for (let i = 0; i < 3; i++) h.putLegacy(i, TX_BUFFERS, [1, 13, 14][i]!, EOP | IFCS | RS);
  h.w(REG.TDT, 3);
  assert.deepEqual(h.sink.frames.map((f) => f.data.length), [14]);
  assert.deepEqual(h.nic.counters.guestErrors, { 'tx-runt': 2 });
  assert.equal(h.txStatus(0) & 1, 1, 'the descriptor still completes');
  h.w(REG.TCTL, TCTL_EN | TCTL_PSP);
  h.putLegacy(3, TX_BUFFERS, 1, EOP | IFCS | RS);
  h.w(REG.TDT, 4);
  assert.equal(h.sink.frames.at(-1)!.data.length, 60);
});

const tsoPacket = buildIpv4('tcp', patternBytes(3000), { seed: 'none' });
const tsoContext = {
  ipcss: tsoPacket.l3,
  ipcso: tsoPacket.l3 + 10,
  ipcse: tsoPacket.l4 - 1,
  tucss: tsoPacket.l4,
  tucso: tsoPacket.l4 + 16,
  paylen: 3000,
  tucmd: 0x07,
  hdrlen: tsoPacket.payload,
};

function sendTso(mss: number): Harness {
  const h = new Harness();
  h.setupTx(8);
  h.memory.bytes.set(tsoPacket.data, TX_BUFFERS);
  h.putContext(0, { ...tsoContext, mss });
  h.putData(1, TX_BUFFERS, tsoPacket.data.length, TSE | EOP | RS, 3);
  h.w(REG.TDT, 2);
  return h;
}

test(`TSO: an MSS below the floor (${MIN_GSO_SEGMENT_SIZE}, Linux's TCP_MIN_MSS) is a guest error; the packet is dropped, not segmented`, () => {
  assert.equal(MIN_GSO_SEGMENT_SIZE, 88);
  for (const mss of [1, 8, 16, MIN_GSO_SEGMENT_SIZE - 1]) {
    const h = sendTso(mss);
    assert.equal(h.sink.frames.length, 0, `MSS ${mss}`);
    assert.deepEqual(h.nic.counters.guestErrors, { 'tso-segment-size-below-floor': 1 }, `MSS ${mss}`);
    assert.equal(h.r(STAT.TSCTFC), 1);
    assert.equal(h.txStatus(1) & 1, 1, 'the descriptors complete: the driver does not hang');
  }
  const h = sendTso(MIN_GSO_SEGMENT_SIZE);
  assert.equal(h.sink.frames.length, 1);
  assert.equal(h.sink.frames[0]!.gso?.segmentSize, MIN_GSO_SEGMENT_SIZE);
  assert.deepEqual(h.nic.counters.guestErrors, {});
});

test('TX continuation: each timer slice does a bounded amount of work and the chain ends with the ring', () => {
  const h = new Harness(16 * 1024 * 1024);
  const count = 4096;
  h.setupTx(count, TCTL_EN);
  // Every descriptor a whole 64 KiB packet: the byte budget, not the descriptor budget, cuts each slice.
  h.memory.bytes.set(ethFrame([0x02, 0, 0, 0, 0, 2], 60), TX_BUFFERS);
  for (let i = 0; i < count; i++) h.putLegacy(i, TX_BUFFERS, 0xffff, EOP);
  const perSlice = TX_BYTES_PER_KICK + 0xffff + TX_DESCRIPTORS_PER_KICK * 16;
  // Measure each timer callback on its own (FakeTimers runs a re-armed 0 ms timer within the same advance).
  const timers = h.platform.timers;
  const slices: number[] = [];
  const arm = timers.setTimeout.bind(timers);
  timers.setTimeout = (callback, ms) =>
    arm(() => {
      const before = h.memory.bytesRead;
      callback();
      slices.push(h.memory.bytesRead - before);
    }, ms);
  h.memory.bytesRead = 0;
  h.w(REG.TDT, count - 1);
  assert.ok(h.memory.bytesRead <= perSlice, `the doorbell read ${h.memory.bytesRead}`);
  assert.ok(h.r(REG.TDH) < count - 1, 'the rest is deferred');
  timers.advance(1);
  assert.equal(h.r(REG.TDH), count - 1, 'the chain stops at the tail');
  assert.equal(timers.pendingCount, 0, 'nothing left armed');
  for (const bytes of slices) assert.ok(bytes > 0 && bytes <= perSlice, `a slice read ${bytes}`);
  assert.ok(slices.length <= Math.ceil(((count - 1) * 0xffff) / TX_BYTES_PER_KICK), `${slices.length} slices`);
});

test('TX continuation: reset, disabling the transmitter or destroy stop a pending continuation', () => {
  for (const stop of ['reset', 'tctl', 'destroy'] as const) {
    const h = new Harness();
    const count = 2 * TX_DESCRIPTORS_PER_KICK + 8;
    h.setupTx(count, TCTL_EN);
    h.memory.bytes.set(ethFrame([0x02, 0, 0, 0, 0, 2], 60), TX_BUFFERS);
    for (let i = 0; i < count; i++) h.putLegacy(i, TX_BUFFERS, 60, EOP);
    h.w(REG.TDT, count - 1);
    assert.equal(h.r(REG.TDH), TX_DESCRIPTORS_PER_KICK);
    assert.equal(h.platform.timers.pendingCount > 0, true);
    if (stop === 'reset') h.w(REG.CTRL, 1 << 26);
    else if (stop === 'tctl') h.w(REG.TCTL, 0);
    else h.nic.destroy();
    const sent = h.sink.frames.length;
    const read = h.memory.bytesRead;
    h.platform.timers.advance(10);
    assert.equal(h.sink.frames.length, sent, stop);
    assert.equal(h.memory.bytesRead, read, `${stop}: no DMA after the stop`);
  }
});

// ---- found by e1000.fuzz.ts -------------------------------------------------------------

test('receive buffer outside RAM: the frame being written is counted as a drop (device-error), not lost', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN);
  h.memory.writeU32(RX_RING, 0xfffff000);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.deepEqual(h.nic.counters.guestErrors, { 'rx-dma-outside-ram': 1 });
  assert.deepEqual(h.nic.counters.rxDropped, { 'device-error': 1 });
});

test('frames waiting for descriptors when the guest resets the device are counted as dropped (reset)', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN); // seven free descriptors
  h.nic.receive(Array.from({ length: 9 }, () => ({ data: ethFrame(TEST_MAC, 60) })));
  assert.equal(h.r(REG.RDH), 7);
  h.w(REG.CTRL, 1 << 26);
  assert.deepEqual(h.nic.counters.rxDropped, { reset: 2 });
});

function savedBusyState(): Record<string, unknown> & { rx: { pending: { data: string }[] }; tx: { context: Record<string, unknown> } } {
  const h = new Harness();
  h.setupRx(8, RCTL_EN); // seven free descriptors: the eighth frame waits
  h.nic.receive(Array.from({ length: 8 }, () => ({ data: ethFrame(TEST_MAC, 60) })));
  return JSON.parse(JSON.stringify(h.nic.saveState()));
}

test('a state file whose counters are not counts is refused; a good one still restores', () => {
  const good = savedBusyState();
  const damaged = [
    { ...good, counters: { ...(good.counters as object), guestErrors: null } },
    { ...good, counters: { ...(good.counters as object), rxDropped: { runt: 'x' } } },
    { ...good, counters: { ...(good.counters as object), txFrames: -1 } },
    { ...good, counters: { ...(good.counters as object), rxFrames: undefined } },
  ];
  for (const state of damaged) {
    const h = new Harness();
    assert.throws(() => h.nic.restoreState(state), DeviceStateError, JSON.stringify(state.counters));
    // Before the fix the restore succeeded and the next guest error threw TypeError out of an MMIO write.
    h.setupTx(8);
    h.w(REG.TDT, 100);
    assert.equal(h.nic.counters.guestErrors['tx-head-or-tail-beyond-ring'], 1);
  }
  new Harness().nic.restoreState(good);
});

test('a state file cannot queue for the guest a frame shorter than a header or longer than the largest frame', () => {
  const good = savedBusyState();
  for (const length of [0, 1, 13, MAX_FRAME_LPE + 1]) {
    const state = { ...good, rx: { ...good.rx, pending: [{ ...good.rx.pending[0]!, data: encodeBase64(new Uint8Array(length)) }] } };
    assert.throws(() => new Harness().nic.restoreState(state), DeviceStateError, `${length} bytes`);
  }
});

test('a state file whose TSO context fields do not fit their descriptor fields is refused', () => {
  const good = savedBusyState();
  for (const change of [{ mss: 'abc' }, { mss: 1.5 }, { mss: 0x10000 }, { hdrlen: -1 }, { paylen: null }, { tucmd: {} }]) {
    const state = { ...good, tx: { ...good.tx, context: { ...good.tx.context, ...change } } };
    assert.throws(() => new Harness().nic.restoreState(state), DeviceStateError, JSON.stringify(change));
  }
});
