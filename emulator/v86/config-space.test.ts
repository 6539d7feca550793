import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfigSpace } from './config-space.ts';
import type { PciFunctionSpec, RegionHandlers } from '../platform.ts';

const none: RegionHandlers = { read: () => 0, write: () => {} };

function spec(extra: Partial<PciFunctionSpec> = {}): PciFunctionSpec {
  return {
    name: 'test',
    vendorId: 0x8086,
    deviceId: 0x100e,
    revision: 3,
    classCode: 0x020000,
    subsystemVendorId: 0x1af4,
    subsystemId: 0x0001,
    bars: [{ kind: 'mmio', size: 0x20000, handlers: none }, undefined, { kind: 'io', size: 0x40, handlers: none }],
    ...extra,
  };
}

test('ids, class, subsystem, pin A and BAR encodings', () => {
  const space = buildConfigSpace(spec(), [0xfe000000, 0, 0x2000]);
  const view = new DataView(space.buffer);
  assert.equal(space.length, 256);
  assert.equal(view.getUint16(0, true), 0x8086);
  assert.equal(view.getUint16(2, true), 0x100e);
  assert.equal(view.getUint16(4, true), 0, 'command starts off');
  assert.equal(space[8], 3);
  assert.deepEqual([...space.subarray(9, 12)], [0x00, 0x00, 0x02]);
  assert.equal(view.getUint32(0x10, true), 0xfe000000, 'MMIO BAR: 32-bit, non-prefetchable');
  assert.equal(view.getUint32(0x14, true), 0, 'absent BAR');
  assert.equal(view.getUint32(0x18, true), 0x2001, 'I/O BAR has bit 0 set');
  assert.equal(view.getUint16(0x2c, true), 0x1af4);
  assert.equal(view.getUint16(0x2e, true), 0x0001);
  assert.equal(space[0x3d], 1);
  assert.equal(view.getUint16(6, true) & 0x10, 0, 'no capabilities bit without capabilities');
  assert.equal(space[0x34], 0);
});

test('capabilities are chained from 0x34, dword-aligned, with the status bit', () => {
  const caps = [
    { id: 0x09, body: Uint8Array.of(14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13) },
    { id: 0x05, body: Uint8Array.of(0xaa) },
    { id: 0x11, body: new Uint8Array(10) },
  ];
  const space = buildConfigSpace(spec({ capabilities: caps }), [0xfe000000, 0, 0x2000]);
  assert.equal(new DataView(space.buffer).getUint16(6, true) & 0x10, 0x10);
  const seen: { at: number; id: number; first: number }[] = [];
  for (let at = space[0x34]!; at; at = space[at + 1]!) {
    assert.equal(at % 4, 0);
    assert.ok(at >= 0x40);
    seen.push({ at, id: space[at]!, first: space[at + 2]! });
  }
  assert.deepEqual(seen.map((c) => c.id), [0x09, 0x05, 0x11]);
  assert.equal(seen[0]!.first, 14);
  assert.equal(seen[1]!.first, 0xaa);
  assert.deepEqual(seen.map((c) => c.at), [0x40, 0x50, 0x54]);
});

test('bad BARs and oversized capabilities are refused with a clear error', () => {
  assert.throws(() => buildConfigSpace(spec({ bars: [{ kind: 'mmio', size: 3000, handlers: none }] }), [0xfe000000]), /power of two/);
  assert.throws(() => buildConfigSpace(spec(), [0xfe010000, 0, 0x2000]), /not aligned/);
  assert.throws(() => buildConfigSpace(spec({ capabilities: [{ id: 1, body: new Uint8Array(300) }] }), [0xfe000000, 0, 0x2000]), /do not fit/);
});
