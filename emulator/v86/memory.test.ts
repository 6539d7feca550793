// Guest RAM access against a real WebAssembly.Memory, exposed the way v86 does
// (a Proxy that builds a new view per property access).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { V86GuestMemory } from './memory.ts';
import { DmaError } from '../platform.ts';
import type { V86Cpu } from './internals.ts';

const RAM_OFFSET = 65536;
const RAM_SIZE = 4 * 65536;

function proxyView(memory: WebAssembly.Memory, offset: number, length: number): Uint8Array {
  return new Proxy({} as Uint8Array, {
    get(_target, key) {
      const view = new Uint8Array(memory.buffer, offset, length);
      const value = Reflect.get(view, key);
      return typeof value === 'function' ? value.bind(view) : value;
    },
  });
}

function fakeCpu() {
  const wasm = new WebAssembly.Memory({ initial: 6 });
  const dirtied: { start: number; end: number }[] = [];
  const cpu = {
    memory_size: Uint32Array.of(RAM_SIZE),
    get mem8() {
      return proxyView(wasm, RAM_OFFSET, RAM_SIZE);
    },
    jit_dirty_cache(start: number, end: number) {
      dirtied.push({ start, end });
    },
  };
  return { cpu: cpu as unknown as V86Cpu, wasm, dirtied, ram: () => new Uint8Array(wasm.buffer, RAM_OFFSET, RAM_SIZE) };
}

test('reads and writes land in guest RAM (little-endian), every write marks its range for the JIT', () => {
  const f = fakeCpu();
  const mem = new V86GuestMemory(f.cpu);
  assert.equal(mem.size, RAM_SIZE);
  mem.writeU32(0x100, 0xdeadbeef);
  mem.writeU16(0x104, 0x1234);
  mem.write(0x106, Uint8Array.of(1, 2, 3));
  assert.deepEqual([...f.ram().subarray(0x100, 0x109)], [0xef, 0xbe, 0xad, 0xde, 0x34, 0x12, 1, 2, 3]);
  assert.equal(mem.readU32(0x100), 0xdeadbeef);
  assert.equal(mem.readU16(0x104), 0x1234);
  assert.deepEqual([...mem.read(0x106, 3)], [1, 2, 3]);
  const into = new Uint8Array(2);
  mem.readInto(0x107, into);
  assert.deepEqual([...into], [2, 3]);
  assert.deepEqual(f.dirtied, [{ start: 0x100, end: 0x104 }, { start: 0x104, end: 0x106 }, { start: 0x106, end: 0x109 }], 'every write invalidates JIT code of its range');
  const copy = mem.read(0x100, 4);
  mem.writeU32(0x100, 0);
  assert.deepEqual([...copy], [0xef, 0xbe, 0xad, 0xde], 'read returns a copy');
});

test('accesses outside guest RAM throw DmaError and touch nothing', () => {
  const f = fakeCpu();
  const mem = new V86GuestMemory(f.cpu);
  const before = new Uint8Array(f.wasm.buffer).slice();
  for (const attempt of [
    () => mem.read(RAM_SIZE - 2, 4),
    () => mem.readU32(RAM_SIZE - 3),
    () => mem.readU16(-1),
    () => mem.write(RAM_SIZE, Uint8Array.of(1)),
    () => mem.writeU32(0xfffffffc, 1),
    () => mem.writeU16(2 ** 53, 1),
    () => mem.readInto(RAM_SIZE - 1, new Uint8Array(2)),
    () => mem.read(0.5, 1),
  ]) {
    assert.throws(attempt, DmaError);
  }
  assert.deepEqual(new Uint8Array(f.wasm.buffer), before);
  assert.equal(f.dirtied.length, 0);
  assert.ok(mem.contains(RAM_SIZE - 4, 4));
  assert.ok(!mem.contains(RAM_SIZE - 4, 5));
});

test('a wasm memory grow (which detaches the old buffer) is survived', () => {
  const f = fakeCpu();
  const mem = new V86GuestMemory(f.cpu);
  mem.writeU32(0x10, 0x01020304);
  f.wasm.grow(1);
  assert.equal(mem.readU32(0x10), 0x01020304);
  assert.equal(mem.readU16(0x10), 0x0304);
  assert.deepEqual([...mem.read(0x10, 2)], [4, 3]);
});
