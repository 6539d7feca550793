import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REGISTERS, REGISTER_AT, STORED_REGISTERS, resetRegisters } from './register-table.ts';
import { MMIO_SIZE, MTA_ENTRIES, RA_ENTRIES, REG, STAT, STATS_END, STATS_START, VFTA_ENTRIES } from './registers.ts';
import { Harness } from './testing.ts';

test('every register of the map has one entry, found by offset / 4', () => {
  assert.equal(REGISTER_AT.length, MMIO_SIZE / 4);
  for (const [name, offset] of Object.entries(REG)) {
    const expected = name === 'RA' ? 'RAL[0]' : name === 'MTA' || name === 'VFTA' ? `${name}[0]` : name;
    assert.equal(REGISTER_AT[offset >>> 2]?.name, expected);
  }
  for (const [name, offset] of Object.entries(STAT)) assert.equal(REGISTER_AT[offset >>> 2]?.name, name);
  const generated = (STATS_END - STATS_START) / 4 + MTA_ENTRIES + 2 * RA_ENTRIES + VFTA_ENTRIES;
  assert.equal(REGISTERS.length, Object.keys(REG).length - 3 + generated);
});

test('registers not stored in the word array have both handlers; reset values land in stored words', () => {
  for (const r of REGISTERS) if (!r.stored) assert.ok(r.read && r.write, r.name);
  const regs = new Uint32Array(MMIO_SIZE / 4).fill(0xdead);
  resetRegisters(regs);
  for (const r of STORED_REGISTERS) assert.equal(regs[r.index], r.reset, r.name);
});

test('a high statistic half clears its low half on read; ITR reads back from the interrupt logic', () => {
  const h = new Harness();
  h.nic.stat64(STAT.GORCL, 0x1_0000_0005);
  assert.equal(h.r(STAT.GORCH), 1);
  assert.equal(h.r(STAT.GORCL), 0);
  h.w(REG.ITR, 0x12345);
  assert.equal(h.r(REG.ITR), 0x2345);
  assert.equal(h.nic.interrupts.itr, 0x2345);
});
