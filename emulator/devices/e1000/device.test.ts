import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, TEST_MAC, ethFrame, restoredCopy } from './testing.ts';
import { CTRL_RST, ICR_LSC, ICR_RXT0, ICR_TXDW, RCTL_BAM, RCTL_EN, REG, STAT, STATUS_LU } from './registers.ts';
import type { NicDriverEvent } from '../../net/nic.ts';

test('PCI identity is 8086:100E rev 3, class 0x020000, 128 KiB MMIO and an I/O window', () => {
  const h = new Harness();
  const spec = h.fn.spec;
  assert.equal(spec.vendorId, 0x8086);
  assert.equal(spec.deviceId, 0x100e);
  assert.equal(spec.revision, 3);
  assert.equal(spec.classCode, 0x020000);
  assert.equal(spec.bars[0]?.kind, 'mmio');
  assert.equal(spec.bars[0]?.size, 128 * 1024);
  assert.equal(spec.bars[1]?.kind, 'io');
  assert.equal(spec.bars[1]?.size, 0x40);
});

test('reset values', () => {
  const h = new Harness();
  assert.equal(h.r(REG.CTRL), 0x00140240);
  assert.equal(h.r(REG.STATUS), 0x80080783);
  assert.equal(h.r(REG.EECD) & 0x100, 0x100, 'EEPROM present');
  assert.equal(h.r(REG.RCTL), 0);
  assert.equal(h.r(REG.TCTL), 0);
  assert.equal(h.r(REG.IMS), 0);
  assert.equal(h.r(REG.ICR), 0);
  assert.equal(h.r(REG.VET), 0x8100);
  assert.equal(h.r(REG.RXCSUM), 0x300);
  assert.equal(h.r(REG.RA), 0x12005452);
  assert.equal(h.r(REG.RA + 4), 0x80005634, 'RA[0] holds the EEPROM MAC with AV');
  assert.equal(h.r(0x1234), 0, 'unknown offsets read 0');
  h.w(0x1234, 0xffffffff);
  assert.equal(h.r(0x1234), 0, 'and ignore writes');
  assert.equal(h.irq.level, false);
});

test("the driver's register self-test patterns read back exactly (e1000_reg_test)", () => {
  const h = new Harness();
  const patterns = [0x5a5a5a5a, 0xa5a5a5a5, 0x00000000, 0xffffffff];
  const patternTest = (reg: number, mask: number, write: number) => {
    for (const p of patterns) {
      h.w(reg, (write & p) >>> 0);
      assert.equal(h.r(reg), (write & p & mask) >>> 0, `reg 0x${reg.toString(16)} pattern 0x${p.toString(16)}`);
    }
  };
  const setAndCheck = (reg: number, mask: number, write: number) => {
    h.w(reg, (write & mask) >>> 0);
    assert.equal((h.r(reg) & mask) >>> 0, (write & mask) >>> 0, `reg 0x${reg.toString(16)}`);
  };
  const before = h.r(REG.STATUS);
  h.w(REG.STATUS, 0xfffff833);
  assert.equal(h.r(REG.STATUS), before, 'STATUS is read-only');
  patternTest(REG.FCAL, 0xffffffff, 0xffffffff);
  patternTest(REG.FCAH, 0x0000ffff, 0xffffffff);
  patternTest(REG.FCT, 0x0000ffff, 0xffffffff);
  patternTest(REG.VET, 0x0000ffff, 0xffffffff);
  patternTest(REG.RDTR, 0x0000ffff, 0xffffffff);
  patternTest(REG.RDBAH, 0xffffffff, 0xffffffff);
  patternTest(REG.RDLEN, 0x000fff80, 0x000fffff);
  patternTest(REG.RDH, 0x0000ffff, 0x0000ffff);
  patternTest(REG.RDT, 0x0000ffff, 0x0000ffff);
  patternTest(REG.FCRTH, 0x0000fff8, 0x0000fff8);
  patternTest(REG.FCTTV, 0x0000ffff, 0x0000ffff);
  patternTest(REG.TIPG, 0x3fffffff, 0x3fffffff);
  patternTest(REG.TDBAH, 0xffffffff, 0xffffffff);
  patternTest(REG.TDLEN, 0x000fff80, 0x000fffff);
  setAndCheck(REG.RCTL, 0xffffffff, 0x00000000);
  setAndCheck(REG.RCTL, 0x06dfb3fe, 0x003ffffb);
  setAndCheck(REG.TCTL, 0xffffffff, 0x00000000);
  setAndCheck(REG.RCTL, 0x06dfb3fe, 0xffffffff);
  patternTest(REG.RDBAL, 0xfffffff0, 0xffffffff);
  patternTest(REG.TXCW, 0xc000ffff, 0x0000ffff);
  patternTest(REG.TDBAL, 0xfffffff0, 0xffffffff);
  patternTest(REG.TIDV, 0x0000ffff, 0x0000ffff);
  for (let i = 0; i < 15; i++) patternTest(REG.RA + 8 * i + 4, 0x8003ffff, 0xffffffff);
  for (let i = 0; i < 128; i++) patternTest(REG.MTA + 4 * i, 0xffffffff, 0xffffffff);
});

test('EEPROM read by Microwire bit-banging: MAC words and the 0xBABA checksum', () => {
  const h = new Harness();
  const words = Array.from({ length: 64 }, (_, i) => h.eepromRead(i));
  assert.deepEqual(words.slice(0, 3), [0x5452, 0x1200, 0x5634]);
  assert.equal(words[0x0b], 0x100e);
  assert.equal(words[0x0c], 0x8086);
  assert.equal(words.reduce((a, b) => (a + b) & 0xffff, 0), 0xbaba);
  // EERD gives the same words.
  h.w(REG.EERD, (0x3f << 8) | 1);
  const eerd = h.r(REG.EERD);
  assert.equal(eerd & 0x10, 0x10, 'DONE');
  assert.equal(eerd >>> 16, words[0x3f]);
});

test('PHY over MDIC: M88E1011 identity, link in BMSR, errors for other PHY addresses, loopback bit', () => {
  const h = new Harness();
  assert.deepEqual(h.phyRead(2), { value: 0x0141, error: false });
  assert.deepEqual(h.phyRead(3), { value: 0x0c20, error: false });
  assert.equal(h.phyRead(0).value, 0x1140);
  assert.equal(h.phyRead(1).value & 0x24, 0x24, 'link and autoneg complete');
  assert.equal(h.phyRead(2, 2).error, true);
  h.phyWrite(0, 0x4140);
  assert.equal(h.phyRead(0).value, 0x4140);
  h.phyWrite(0, 0x1340); // restart autoneg self-clears
  assert.equal(h.phyRead(0).value, 0x1140);
  h.phyWrite(2, 0xdead);
  assert.equal(h.phyRead(2).value, 0x0141, 'identity is read-only');
  h.phyWrite(0x10, 0x0808);
  assert.equal(h.phyRead(0x10).value, 0x0808, 'M88 specific control keeps its value');
});

test('ICR is read-to-clear, the line follows ICR & IMS, and IMS re-raises pending causes', () => {
  const h = new Harness();
  h.w(REG.IMC, 0xffffffff);
  h.w(REG.ICS, ICR_TXDW);
  assert.equal(h.irq.level, false, 'masked cause does not raise the line');
  h.w(REG.IMS, ICR_TXDW);
  assert.equal(h.irq.level, true, 'unmasking a pending cause raises the line');
  assert.equal(h.r(REG.IMS), ICR_TXDW);
  assert.equal(h.r(REG.ICR, 1), ICR_TXDW & 0xff, 'a byte read of byte 0 returns and clears');
  assert.equal(h.irq.level, false);
  assert.equal(h.r(REG.ICR), 0);
  h.w(REG.ICS, ICR_RXT0 | ICR_TXDW);
  assert.equal(h.r(REG.ICR + 1, 1), 0, 'a byte read of byte 1 does not clear');
  assert.equal(h.irq.level, true);
  h.w(REG.IMC, ICR_TXDW);
  assert.equal(h.irq.level, false, 'masking the only enabled cause lowers the line');
  assert.equal(h.r(REG.ICR), ICR_RXT0 | ICR_TXDW);
  // The driver's interrupt self-test, in the non-shared form it uses.
  h.w(REG.IMC, 0xffffffff);
  for (let i = 0; i < 10; i++) {
    const mask = 1 << i;
    let seen = 0;
    const poll = () => {
      if (h.irq.level) seen |= h.r(REG.ICR);
    };
    h.w(REG.IMC, mask);
    h.w(REG.ICS, mask);
    poll();
    assert.equal(seen & mask, 0, `cause ${i} masked`);
    h.w(REG.IMS, mask);
    h.w(REG.ICS, mask);
    poll();
    assert.equal(seen & mask, mask, `cause ${i} enabled`);
    seen = 0;
    h.w(REG.IMC, ~mask & 0x7fff);
    h.w(REG.ICS, ~mask & 0x7fff);
    poll();
    assert.equal(seen, 0, `others masked for cause ${i}`);
  }
});

test('ITR spaces interrupts; a burst of causes costs one assertion per interval', () => {
  const h = new Harness();
  h.w(REG.ITR, 3906); // ~1 ms
  h.w(REG.IMS, ICR_TXDW);
  h.w(REG.ICS, ICR_TXDW);
  assert.equal(h.irq.raised, 1);
  h.r(REG.ICR);
  h.w(REG.ICS, ICR_TXDW);
  assert.equal(h.irq.level, false, 'throttled');
  h.platform.timers.advance(0.5);
  assert.equal(h.irq.level, false);
  h.platform.timers.advance(0.6);
  assert.equal(h.irq.level, true, 'asserted once the interval passed');
  assert.equal(h.irq.raised, 2);
  // A cause acknowledged while throttled never produces a spurious assertion.
  h.r(REG.ICR);
  h.w(REG.ICS, ICR_TXDW);
  h.w(REG.ICR, ICR_TXDW);
  h.platform.timers.advance(5);
  assert.equal(h.irq.level, false);
  assert.equal(h.irq.raised, 2);
});

test('8-bit and 16-bit accesses work at any offset (v86 splits 16-bit MMIO)', () => {
  const h = new Harness();
  assert.equal(h.r(REG.STATUS + 3, 1), 0x80);
  assert.equal(h.r(REG.STATUS + 1, 2), 0x0807);
  h.w(REG.RDTR, 0x34, 1);
  h.w(REG.RDTR + 1, 0x12, 1);
  assert.equal(h.r(REG.RDTR), 0x1234);
  h.w(REG.FCAL + 2, 0xbeef, 2);
  assert.equal(h.r(REG.FCAL), 0xbeef0000);
  h.w(REG.IMS + 1, 0x02, 1);
  assert.equal(h.r(REG.IMS), 0x200, 'a byte write to IMS sets only its bits');
  // The I/O window reaches the same registers.
  h.fn.write(1, 0, REG.FCAL);
  assert.equal(h.fn.read(1, 4), 0xbeef0000);
  h.fn.write(1, 4, 0x1234);
  assert.equal(h.r(REG.FCAL), 0x1234);
});

test('statistics are read-to-clear; the high half of a 64-bit counter clears both', () => {
  const h = new Harness();
  h.setupTx(8);
  for (let i = 0; i < 3; i++) {
    h.memory.bytes.set(ethFrame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 100), 0x100000);
    h.putLegacy(i, 0x100000, 100, 0x01 | 0x02 | 0x08);
  }
  h.w(REG.TDT, 3);
  assert.equal(h.r(STAT.GPTC), 3);
  assert.equal(h.r(STAT.GPTC), 0);
  assert.equal(h.r(STAT.BPTC), 3);
  assert.equal(h.r(STAT.GOTCL), 312);
  assert.equal(h.r(STAT.GOTCL), 0, 'low half clears on its read');
  assert.equal(h.r(STAT.TOTL + 4), 0);
  assert.equal(h.r(STAT.TOTL), 0, 'reading the high half cleared the low half');
});

test('link control: down clears STATUS.LU and BMSR link and raises LSC; up restores', () => {
  const h = new Harness();
  h.w(REG.IMS, ICR_LSC);
  h.nic.setLinkUp(false);
  assert.equal(h.r(REG.STATUS) & STATUS_LU, 0);
  assert.equal(h.phyRead(1).value & 0x4, 0);
  assert.equal(h.irq.level, true);
  assert.equal(h.r(REG.ICR) & ICR_LSC, ICR_LSC);
  h.nic.setLinkUp(true);
  assert.equal(h.r(REG.STATUS) & STATUS_LU, STATUS_LU);
  assert.equal(h.r(REG.ICR) & ICR_LSC, ICR_LSC);
});

test('driver events: ready on RCTL.EN with link, stopped on disable and reset, mac on RA[0]', () => {
  const h = new Harness();
  const events: NicDriverEvent[] = [];
  h.nic.onDriverEvent((e) => events.push(e));
  h.w(REG.RCTL, RCTL_EN | RCTL_BAM);
  assert.deepEqual(events, [{ type: 'ready' }]);
  assert.equal(h.nic.driverReady, true);
  h.w(REG.RCTL, 0);
  assert.deepEqual(events[1], { type: 'stopped', reason: 'receiver disabled' });
  h.w(REG.RCTL, RCTL_EN);
  h.w(REG.CTRL, CTRL_RST);
  assert.deepEqual(events[3], { type: 'stopped', reason: 'reset' });
  assert.equal(h.nic.driverReady, false);
  h.w(REG.RA, 0x44332211);
  h.w(REG.RA + 4, 0x80006655);
  assert.equal(events.at(-1)?.type, 'mac');
  assert.deepEqual(Array.from(h.nic.mac), [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
  // With the link down, ready waits for the link.
  const h2 = new Harness();
  const events2: NicDriverEvent[] = [];
  h2.nic.onDriverEvent((e) => events2.push(e));
  h2.nic.setLinkUp(false);
  h2.w(REG.RCTL, RCTL_EN);
  assert.equal(events2.length, 0);
  h2.nic.setLinkUp(true);
  assert.deepEqual(events2, [{ type: 'ready' }]);
});

test('state survives a JSON round trip into a fresh device on the same memory', () => {
  const h = new Harness();
  h.setupRx(8);
  h.w(REG.IMS, ICR_RXT0);
  h.w(REG.ITR, 100);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 80) }]);
  assert.equal(h.irq.level, true);
  const copy = restoredCopy(h);
  assert.equal(copy.irq.level, true, 'the line is re-evaluated from ICR & IMS');
  assert.equal(copy.read(REG.RDH), 1);
  assert.deepEqual(Array.from(copy.nic.mac), Array.from(TEST_MAC));
  assert.equal(copy.nic.driverReady, true);
  assert.equal(copy.read(REG.ICR), ICR_RXT0);
  copy.nic.receive([{ data: ethFrame(TEST_MAC, 90) }]);
  assert.equal(copy.read(REG.RDH), 2, 'the restored device keeps receiving');
  assert.throws(() => copy.nic.restoreState({ model: 'virtio' }), /e1000 state/);
});

test('destroy frees every timer', () => {
  const h = new Harness();
  h.setupRx(8);
  h.w(REG.RDTR, 100);
  h.w(REG.RADV, 200);
  h.w(REG.ITR, 5000);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 80) }]);
  assert.ok(h.platform.timers.pendingCount > 0);
  h.nic.destroy();
  assert.equal(h.platform.timers.pendingCount, 0);
});

