// Interrupt state across a snapshot: causes the delay timers (RDTR, TIDV) were
// still holding back when the state was saved must reach the restored guest
// (its timers are not restored, so a lost cause would leave the driver waiting
// for an interrupt that never comes), and ITR keeps throttling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, TEST_MAC, TX_BUFFERS, ethFrame, restoredCopy } from './testing.ts';
import { ICR_RXT0, ICR_TXDW, REG } from './registers.ts';

const EOP = 0x01;
const IFCS = 0x02;
const RS = 0x08;
const IDE = 0x80;

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

/** The line after each step of a burst of causes 0.4 ms apart: what ITR shapes. */
function burstTimeline(io: { read(offset: number): number; write(offset: number, value: number): void; level(): boolean; advance(ms: number): void }): string {
  const levels: string[] = [];
  io.write(REG.IMS, ICR_TXDW);
  for (let step = 0; step < 6; step++) {
    io.write(REG.ICS, ICR_TXDW);
    levels.push(io.level() ? 'up' : '-');
    if (io.level()) io.read(REG.ICR);
    io.advance(0.4);
  }
  return levels.join(' ');
}

test('ITR is restored: it reads back, and the restored device spaces a burst of interrupts as the saved one does', () => {
  const h = new Harness();
  h.w(REG.ITR, 3906); // ~1 ms
  const copy = restoredCopy(h);
  assert.equal(copy.read(REG.ITR), 3906);
  const original = burstTimeline({ read: (o) => h.r(o), write: (o, v) => h.w(o, v), level: () => h.irq.level, advance: (ms) => h.platform.timers.advance(ms) });
  assert.equal(original, 'up - - up - up', 'at most one assertion per ~1 ms');
  assert.equal(burstTimeline({ ...copy, level: () => copy.irq.level, advance: (ms) => copy.platform.timers.advance(ms) }), original);
});
