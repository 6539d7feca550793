// The adapter's PCI side against a stand-in for v86's CPU, I/O and PCI objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciBus, irqForSlot } from './pci.ts';
import type { V86Cpu, V86PciDevice } from './internals.ts';
import type { AccessSize, PciFunctionSpec } from '../platform.ts';

interface Port {
  r8?: () => number;
  r16?: () => number;
  r32?: () => number;
  w8?: (v: number) => void;
  w16?: (v: number) => void;
  w32?: (v: number) => void;
}

function fakeCpu() {
  const events: string[] = [];
  const ports = new Map<number, Port>();
  const mmaps: { addr: number; size: number; r8: (a: number) => number; w8: (a: number, v: number) => void; r32: (a: number) => number; w32: (a: number, v: number) => void }[] = [];
  const spaces: (Int32Array | undefined)[] = [];
  spaces[0] = new Int32Array(64);
  spaces[1 << 3] = new Int32Array(64);
  const isa = new Uint8Array(256);
  isa.set([10, 10, 11, 11], 0x60); // what SeaBIOS programs
  const registered: V86PciDevice[] = [];
  const cpu = {
    memory_size: Uint32Array.of(1 << 20),
    mem8: new Uint8Array(1 << 20),
    jit_dirty_cache: () => {},
    io: {
      register_read(port: number, _d: object, r8?: () => number, r16?: () => number, r32?: () => number) {
        ports.set(port, { ...ports.get(port), r8, r16, r32 });
      },
      register_write(port: number, _d: object, w8?: (v: number) => void, w16?: (v: number) => void, w32?: (v: number) => void) {
        ports.set(port, { ...ports.get(port), w8, w16, w32 });
      },
      mmap_register(addr: number, size: number, r8: never, w8: never, r32: never, w32: never) {
        mmaps.push({ addr, size, r8, w8, r32, w32 });
      },
    },
    devices: {
      pci: {
        device_spaces: spaces,
        isa_bridge_space8: isa,
        register_device(device: V86PciDevice) {
          events.push(`register ${device.pci_id >> 3} ports:${ports.size}`);
          registered.push(device);
          const space = new Int32Array(Uint8Array.from(device.pci_space).buffer);
          spaces[device.pci_id] = space;
          return space;
        },
      },
    },
    device_raise_irq: (irq: number) => events.push(`raise ${irq}`),
    device_lower_irq: (irq: number) => events.push(`lower ${irq}`),
  };
  return { cpu: cpu as unknown as V86Cpu, events, ports, mmaps, spaces, isa, registered };
}

function recordingSpec(log: string[], name = 'nic', ioSize = 0x20): PciFunctionSpec {
  const handlers = (bar: string) => ({
    read: (offset: number, size: AccessSize) => {
      log.push(`${bar} read ${offset.toString(16)}/${size}`);
      return 0x12345678 & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
    },
    write: (offset: number, size: AccessSize, value: number) => void log.push(`${bar} write ${offset.toString(16)}/${size}=${value.toString(16)}`),
  });
  return {
    name,
    vendorId: 0x8086,
    deviceId: 0x100e,
    revision: 0,
    classCode: 0x020000,
    bars: [{ kind: 'mmio', size: 0x20000, handlers: handlers('mmio') }, { kind: 'io', size: ioSize, handlers: handlers('io') }],
  };
}

test('functions go to slots 0x0D then 0x0F (IRQ 10 and 11), BARs in our windows, ports before register_device', () => {
  const f = fakeCpu();
  const bus = new PciBus(f.cpu, () => assert.fail('no handler error expected'));
  const log: string[] = [];
  const a = bus.add(recordingSpec(log, 'a'));
  const b = bus.add(recordingSpec(log, 'b'));
  assert.deepEqual([a.slot, b.slot], [0x0d, 0x0f]);
  assert.deepEqual([a.irqNumber, b.irqNumber], [10, 11]);
  assert.deepEqual(f.mmaps.map((m) => [m.addr.toString(16), m.size]), [['fe000000', 0x20000], ['fe020000', 0x20000]]);
  assert.equal(f.events[0], 'register 13 ports:32', 'the I/O BAR ports were registered first');
  assert.equal(a.barAddress(0), 0xfe000000);
  assert.equal(a.barAddress(1), 0x2000);
  assert.equal(b.barAddress(1), 0x2020);
  // The BIOS moves the I/O BAR: barAddress follows the config space.
  f.spaces[0x0d << 3]![5] = 0xc001;
  assert.equal(a.barAddress(1), 0xc000);
});

test('a slot taken by someone else is skipped; PIRQ routing not yet set means IRQ 0', () => {
  const f = fakeCpu();
  f.spaces[0x0d << 3] = new Int32Array(64);
  const bus = new PciBus(f.cpu, () => {});
  assert.equal(bus.add(recordingSpec([])).slot, 0x0f);
  assert.equal(irqForSlot(Uint8Array.of(...new Array(0x60).fill(0), 0x80, 0x80, 0x80, 0x80), 0x0d), 0);
});

test('MMIO and port accesses reach the handlers at BAR offsets; outside the BAR reads 0', () => {
  const f = fakeCpu();
  const log: string[] = [];
  new PciBus(f.cpu, () => {}).add({ ...recordingSpec(log), bars: [{ kind: 'mmio', size: 0x4000, handlers: recordingSpec(log).bars[0]!.handlers }] });
  const m = f.mmaps[0]!;
  assert.equal(m.size, 0x20000, 'mapped in a whole 128 KiB unit');
  assert.equal(m.r32(0xfe000010) >>> 0, 0x12345678);
  m.w8(0xfe000003, 0xab);
  m.w32(0xfe003ffc, -1);
  assert.equal(m.r8(0xfe004000), 0, 'past the 16 KiB BAR');
  m.w32(0xfe010000, 5);
  assert.deepEqual(log, ['mmio read 10/4', 'mmio write 3/1=ab', 'mmio write 3ffc/4=ffffffff']);

  const g = fakeCpu();
  const plog: string[] = [];
  new PciBus(g.cpu, () => {}).add({ ...recordingSpec(plog), bars: [undefined, recordingSpec(plog).bars[1]] });
  const port = g.ports.get(0x2004)!;
  assert.equal(port.r16!(), 0x5678);
  port.w32!(-2);
  port.w8!(0x1ff);
  assert.deepEqual(plog, ['io read 4/2', 'io write 4/4=fffffffe', 'io write 4/1=ff']);
});

test('a handler that throws is reported and does not unwind into the emulator', () => {
  const f = fakeCpu();
  const errors: string[] = [];
  const bad = { read: () => { throw new Error('boom'); }, write: () => { throw new Error('bang'); } };
  new PciBus(f.cpu, (device, error) => errors.push(`${device}: ${(error as Error).message}`)).add({
    ...recordingSpec([]),
    bars: [{ kind: 'mmio', size: 0x20000, handlers: bad }],
  });
  assert.equal(f.mmaps[0]!.r32(0xfe000000), 0);
  f.mmaps[0]!.w8(0xfe000000, 1);
  assert.deepEqual(errors, ['nic: boom', 'nic: bang']);
});

/** Lets queued microtasks run: where a raise made during a register access reaches the wire. */
const afterAccess = () => new Promise<void>((resolve) => setImmediate(resolve));

test('IRQ lines toggle the wire on transitions only, and shared IRQs are counted', async () => {
  const f = fakeCpu();
  const bus = new PciBus(f.cpu, () => {});
  const specs = [0, 1, 2].map((i) => recordingSpec([], `n${i}`));
  const [a, b, c] = specs.map((s) => bus.add(s));
  assert.deepEqual([a!.irqNumber, b!.irqNumber, c!.irqNumber], [10, 11, 11], 'the third shares IRQ 11');
  f.events.length = 0;
  a!.irq.set(true);
  a!.irq.set(true);
  b!.irq.set(true);
  c!.irq.set(true);
  assert.deepEqual(f.events, [], 'raising waits until the register access has returned');
  await afterAccess();
  b!.irq.set(false);
  assert.deepEqual(f.events, ['raise 10', 'raise 11'], 'c still holds IRQ 11 after b lowers');
  c!.irq.set(false);
  a!.irq.set(false);
  assert.deepEqual(f.events, ['raise 10', 'raise 11', 'lower 11', 'lower 10']);
  assert.equal(a!.irq.level, false);
});

test('a raise taken back within the same access never reaches the wire', async () => {
  const f = fakeCpu();
  const bus = new PciBus(f.cpu, () => {});
  const a = bus.add(recordingSpec([], 'a'));
  f.events.length = 0;
  a.irq.set(true);
  a.irq.set(false);
  a.irq.set(true);
  a.irq.set(false);
  await afterAccess();
  assert.deepEqual(f.events, [], 'no spurious interrupt');
  a.irq.set(true);
  a.irq.set(false);
  a.irq.set(true);
  await afterAccess();
  assert.deepEqual(f.events, ['raise 10'], 'one raise for a line that ends high');
});

test('after a restore the wires are made to match the lines', () => {
  const f = fakeCpu();
  const bus = new PciBus(f.cpu, () => {});
  const a = bus.add(recordingSpec([], 'a'));
  const b = bus.add(recordingSpec([], 'b'));
  a.irq.set(true);
  b.irq.set(true);
  b.irq.set(false);
  f.events.length = 0;
  bus.wires.resync();
  assert.deepEqual(f.events.sort(), ['lower 10', 'lower 11', 'raise 10'].sort());
  f.events.length = 0;
  a.irq.set(false);
  assert.deepEqual(f.events, ['lower 10']);
});

test('busMaster follows the command register', () => {
  const f = fakeCpu();
  const fn = new PciBus(f.cpu, () => {}).add(recordingSpec([]));
  assert.equal(fn.busMaster, false);
  f.spaces[fn.slot << 3]![1] = 0x0006;
  assert.equal(fn.busMaster, true);
});
