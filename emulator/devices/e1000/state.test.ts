import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceStateError } from '../state-error.ts';
import { Harness, TEST_MAC, TX_BUFFERS, ethFrame } from './testing.ts';
import { REG } from './registers.ts';

const EOP = 0x01;
const IFCS = 0x02;

/** A device with two frames waiting for RX descriptors and half a TX packet assembled. */
function busyDevice(): { h: Harness; waiting: Uint8Array[]; packet: Uint8Array } {
  const h = new Harness();
  h.setupRx(8); // seven free descriptors
  const frames = [80, 81, 82, 83, 84, 85, 86, 87, 88].map((length) => ethFrame(TEST_MAC, length, 0x0800, length));
  h.nic.receive(frames.map((data) => ({ data })));
  assert.equal(h.r(REG.RDH), 7);
  h.setupTx(8);
  const packet = ethFrame([0x02, 0, 0, 0, 0, 2], 42, 0x0800, 0x5a);
  h.memory.bytes.set(packet.subarray(0, 20), TX_BUFFERS);
  h.memory.bytes.set(packet.subarray(20), TX_BUFFERS + 0x1000);
  h.putLegacy(0, TX_BUFFERS, 20, IFCS);
  h.w(REG.TDT, 1);
  assert.equal(h.sink.frames.length, 0, 'no EOP yet');
  return { h, waiting: frames.slice(7), packet };
}

test('pending RX frames and a partial TX packet save and restore without Node Buffer', () => {
  const { h, waiting, packet } = busyDevice();
  const saveBuffer = globalThis.Buffer;
  let saved: unknown;
  const h2 = new Harness();
  try {
    (globalThis as { Buffer?: unknown }).Buffer = undefined;
    saved = JSON.parse(JSON.stringify(h.nic.saveState()));
    h2.memory.bytes.set(h.memory.bytes);
    h2.nic.restoreState(saved);
  } finally {
    globalThis.Buffer = saveBuffer;
  }
  // The driver hands back two descriptors: the waiting frames go in (7, then 0 after the wrap).
  h2.w(REG.RDT, 1);
  assert.equal(h2.r(REG.RDH), 1);
  assert.deepEqual(h2.rxDesc(7).data, Uint8Array.from([...waiting[0]!, 0, 0, 0, 0]));
  assert.deepEqual(h2.rxDesc(0).data, Uint8Array.from([...waiting[1]!, 0, 0, 0, 0]));
  // The packet's second half completes what was saved.
  h2.putLegacy(1, TX_BUFFERS + 0x1000, 22, EOP | IFCS);
  h2.w(REG.TDT, 2);
  assert.equal(h2.sink.frames.length, 1);
  assert.deepEqual(h2.sink.frames[0]!.data.subarray(0, 42), packet);
});

test('a damaged state is refused with DeviceStateError before anything is applied', () => {
  const { h } = busyDevice();
  const good = JSON.parse(JSON.stringify(h.nic.saveState()));
  const damaged = [
    { ...good, rx: { ...good.rx, pending: [{ ...good.rx.pending[0], data: 'not base64!' }] } },
    { ...good, tx: { ...good.tx, partial: { ...good.tx.partial, data: 42 } } },
    { ...good, registers: [...good.registers, [0x7fff, 1]] },
    { ...good, registers: [[REG.TDT >> 2, -1]] },
    { ...good, mac: 'nope' },
    { ...good, eeprom: {} },
  ];
  const h2 = new Harness();
  h2.setupRx(8);
  for (const state of damaged) {
    assert.throws(() => h2.nic.restoreState(state), (error: unknown) => error instanceof DeviceStateError && /^e1000 state: /.test(error.message));
    assert.equal(h2.r(REG.RDLEN), 8 * 16, 'registers untouched');
    assert.deepEqual(Array.from(h2.nic.mac), Array.from(TEST_MAC));
  }
});

test('a MAC that is not 6 bytes is a TypeError', () => {
  assert.throws(() => new Harness(undefined, Uint8Array.of(1, 2, 3)), TypeError);
});
