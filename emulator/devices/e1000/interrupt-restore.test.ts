// Interrupt state across a snapshot: causes the delay timers (RDTR, TIDV) were
// still holding back when the state was saved must reach the restored guest
// (its timers are not restored, so a lost cause would leave the driver waiting
// for an interrupt that never comes), and ITR keeps throttling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakePlatform } from '../../testing.ts';
import { E1000 } from './device.ts';
import { Harness, TEST_MAC, TX_BUFFERS, ethFrame } from './testing.ts';
import { ICR_RXT0, ICR_TXDW, REG } from './registers.ts';

const EOP = 0x01;
const IFCS = 0x02;
const RS = 0x08;
const IDE = 0x80;

/** The saved state, through JSON as in a snapshot file, restored into a fresh device on a copy of the RAM. */
function restoredCopy(h: Harness) {
  const saved = JSON.parse(JSON.stringify(h.nic.saveState()));
  const platform = new FakePlatform(h.memory.size);
  platform.memory.bytes.set(h.memory.bytes);
  const nic = new E1000(platform, { mac: Uint8Array.of(2, 0, 0, 0, 0, 9) });
  nic.restoreState(saved);
  const fn = platform.functions[0]!;
  return { platform, nic, irq: fn.irq, read: (offset: number) => fn.read(0, offset, 4), write: (offset: number, value: number) => fn.write(0, offset, value, 4) };
}

test('a receive interrupt held back by RDTR when the state was saved is raised after the restore', () => {
  const h = new Harness();
  h.setupRx(8);
  h.w(REG.IMS, ICR_RXT0);
  h.w(REG.RDTR, 1000); // ~1 ms
  h.nic.receive([{ data: ethFrame(TEST_MAC, 80) }]);
  assert.equal(h.irq.level, false, 'held back by the delay timer');

  const copy = restoredCopy(h);
  assert.equal(copy.irq.level, true, 'the held-back cause is raised at once');
  assert.equal(copy.read(REG.ICR) & ICR_RXT0, ICR_RXT0);
  // And only once: the timer of the saved device does not fire again in the copy.
  copy.platform.timers.advance(5);
  assert.equal(copy.irq.level, false);
  assert.equal(copy.irq.raised, 1);
});

test('a transmit interrupt held back by TIDV when the state was saved is raised after the restore', () => {
  const h = new Harness();
  h.setupTx(8);
  h.w(REG.IMS, ICR_TXDW);
  h.w(REG.TIDV, 1000);
  h.memory.bytes.set(ethFrame([0x02, 0, 0, 0, 0, 2], 60), TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, 60, EOP | IFCS | RS | IDE);
  h.w(REG.TDT, 1);
  assert.equal(h.sink.frames.length, 1);
  assert.equal(h.irq.level, false, 'held back by the delay timer');

  const copy = restoredCopy(h);
  assert.equal(copy.irq.level, true);
  assert.equal(copy.read(REG.ICR) & ICR_TXDW, ICR_TXDW);
});

test('ITR is restored: it reads back and still spaces interrupts', () => {
  const h = new Harness();
  h.w(REG.ITR, 3906); // ~1 ms
  const copy = restoredCopy(h);
  assert.equal(copy.read(REG.ITR), 3906);
  copy.write(REG.IMS, ICR_TXDW);
  copy.write(REG.ICS, ICR_TXDW);
  assert.equal(copy.irq.raised, 1);
  copy.read(REG.ICR);
  copy.write(REG.ICS, ICR_TXDW);
  assert.equal(copy.irq.level, false, 'throttled as before the snapshot');
  copy.platform.timers.advance(1.1);
  assert.equal(copy.irq.level, true);
  assert.equal(copy.irq.raised, 2);
});
