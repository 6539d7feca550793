// Fault containment of one NIC (emulator/fault.ts, emulator/net/contain.ts):
// a model that throws on purpose from an MMIO access, a timer or receive()
// fails its NIC once, reported, with nothing escaping to the caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakePlatform, type FakePciFunction } from './testing.ts';
import { FaultDomain, containPlatform } from './fault.ts';
import { containNic, createContainedNic, NicFailedError, type ContainedNic } from './net/contain.ts';
import { NO_RX_OFFLOADS, type Frame, type FrameSink } from './net/frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent, NicFactory } from './net/nic.ts';
import type { Platform } from './platform.ts';
import { createE1000 } from './devices/e1000/index.ts';
import { REG } from './devices/e1000/registers.ts';
import { injectNicFault } from './net/testing.ts';

const BOOM = 0xdead;
const REG_VALUE = 0x00;
const REG_IRQ = 0x10;
const REG_TIMER = 0x20;

/** A model with one register, an IRQ and a timer, that throws when told to (the bug under test). */
class TrapNic implements GuestNic {
  readonly model = 'e1000' as const;
  readonly mac = Uint8Array.of(2, 0, 0, 0, 0, 1);
  readonly driverReady = true;
  readonly rxOffloads = NO_RX_OFFLOADS;
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  value = 0;
  timerRuns = 0;
  timerThrows = false;
  readThrows = false;
  receiveThrows = false;
  received = 0;
  linkUp = true;
  sink: FrameSink | null = null;
  destroyed = false;
  readonly fn;
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();

  constructor(private readonly platform: Platform) {
    this.fn = platform.addPciFunction({
      name: 'trap',
      vendorId: 0x8086,
      deviceId: 0x100e,
      revision: 0,
      classCode: 0x020000,
      bars: [
        {
          kind: 'mmio',
          size: 0x1000,
          handlers: {
            read: (offset) => {
              if (this.readThrows) throw new RangeError('read trap');
              return offset === REG_VALUE ? this.value : 0;
            },
            write: (offset, _size, value) => this.write(offset, value),
          },
        },
      ],
    });
  }

  private write(offset: number, value: number): void {
    if (value === BOOM) throw new RangeError('write trap');
    if (offset === REG_VALUE) this.value = value;
    if (offset === REG_IRQ) this.fn.irq.set(value !== 0);
    if (offset === REG_TIMER) this.arm(value);
  }

  private arm(ms: number): void {
    this.platform.timers.setTimeout(() => {
      this.timerRuns++;
      if (this.timerThrows) throw new TypeError('timer trap');
    }, ms);
  }

  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }
  receive(frames: readonly Frame[]): void {
    if (this.receiveThrows) throw new RangeError('receive trap');
    this.received += frames.length;
  }
  setLinkUp(up: boolean): void {
    this.linkUp = up;
  }
  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: NicDriverEvent): void {
    for (const listener of this.listeners) listener(event);
  }
  saveState(): unknown {
    return { value: this.value };
  }
  restoreState(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

function trapped(): { platform: FakePlatform; nic: ContainedNic; model: TrapNic; fn: FakePciFunction; events: NicDriverEvent[] } {
  const platform = new FakePlatform(1024 * 1024);
  let model!: TrapNic;
  const factory: NicFactory = (p) => (model = new TrapNic(p));
  const nic = createContainedNic(factory, platform, { mac: new Uint8Array(6) }, 't/eth0 (trap)');
  const events: NicDriverEvent[] = [];
  nic.onDriverEvent((event) => events.push(event));
  return { platform, nic, model, fn: platform.functions[0]!, events };
}

const frame = (): Frame => ({ data: new Uint8Array(60) });

test('an MMIO write that throws fails the NIC once: no exception reaches the caller, the link goes down, the outside is cut off', () => {
  const { nic, model, fn, events } = trapped();
  fn.write(0, REG_VALUE, 7);
  assert.equal(fn.read(0, REG_VALUE), 7);
  assert.doesNotThrow(() => fn.write(0, REG_VALUE, BOOM));
  assert.equal(nic.failed, true);
  assert.deepEqual(events.map((e) => e.type), ['failed']);
  const failed = events[0] as Extract<NicDriverEvent, { type: 'failed' }>;
  assert.ok(failed.error instanceof RangeError);
  assert.equal(failed.error.message, 'write trap');
  assert.equal(model.linkUp, false, 'the guest is shown the cable pulled');
  assert.equal(model.sink, null, 'the model is cut off from the outside');
  // A failed model still answers its own guest (its driver must read the link going down, e.g. through the PHY) ...
  fn.write(0, REG_VALUE, 9);
  assert.equal(fn.read(0, REG_VALUE), 9);
  // ... and the outside's calls are dropped and counted.
  nic.receive([frame(), frame()]);
  assert.equal(model.received, 0);
  assert.equal(nic.counters.rxDropped['nic-failed'], 2);
  nic.setLinkUp(true);
  assert.equal(model.linkUp, false);
  assert.equal(nic.driverReady, false);
  assert.throws(() => nic.saveState(), NicFailedError);
  fn.write(0, REG_VALUE, BOOM);
  assert.equal(events.length, 1, 'reported once');
});

test('a timer callback that throws fails the NIC; the exception does not reach the clock', () => {
  const { platform, nic, model, fn, events } = trapped();
  model.timerThrows = true;
  fn.write(0, REG_TIMER, 5);
  assert.doesNotThrow(() => platform.timers.advance(10));
  assert.equal(model.timerRuns, 1);
  assert.equal(nic.failed, true);
  assert.equal(events.length, 1);
  assert.ok((events[0] as { error: Error }).error instanceof TypeError);
});

test('receive() that throws fails the NIC; later frames are counted as nic-failed', () => {
  const { nic, model, events } = trapped();
  nic.receive([frame()]);
  assert.equal(model.received, 1);
  model.receiveThrows = true;
  assert.doesNotThrow(() => nic.receive([frame()]));
  assert.equal(nic.failed, true);
  assert.equal(events.length, 1);
  nic.receive([frame(), frame(), frame()]);
  assert.equal(nic.counters.rxDropped['nic-failed'], 3);
});

test('a second exception silences the model: reads give 0, its IRQ is lowered, its timers and writes do nothing', () => {
  const { platform, nic, model, fn } = trapped();
  fn.write(0, REG_VALUE, 3);
  fn.write(0, REG_IRQ, 1);
  assert.equal(fn.irq.level, true);
  fn.write(0, REG_VALUE, BOOM);
  assert.equal(nic.domain.state, 'failed');
  assert.equal(fn.irq.level, true, 'a failed model may still tell its guest something');
  model.readThrows = true;
  assert.equal(fn.read(0, REG_VALUE), 0);
  assert.equal(nic.domain.state, 'silenced');
  assert.equal(fn.irq.level, false, 'no interrupt left asserted for nobody');
  model.readThrows = false;
  assert.equal(fn.read(0, REG_VALUE), 0, 'no device code runs any more');
  model.timerThrows = false;
  const before = model.timerRuns;
  platform.timers.advance(100);
  fn.write(0, REG_TIMER, 1);
  platform.timers.advance(100);
  assert.equal(model.timerRuns, before);
  assert.equal(nic.domain.faults, 2);
  nic.destroy();
  assert.equal(model.destroyed, true, 'destroy always reaches the model (it frees its timers)');
});

test('a fault listener that throws is reported, not thrown out of the guard', () => {
  const domain = new FaultDomain('x');
  domain.onFault(() => {
    throw new Error('listener bug');
  });
  const original = console.error;
  const logged: unknown[] = [];
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    assert.equal(domain.run(() => { throw new Error('device bug'); }, 42), 42);
  } finally {
    console.error = original;
  }
  assert.equal(domain.failed, true);
  assert.equal(logged.length, 1);
});

test('containPlatform keeps the platform what it is (class, memory, test handles) and guards only handlers and timers', () => {
  const platform = new FakePlatform(1024 * 1024);
  const view = containPlatform(platform, new FaultDomain('v'));
  assert.ok(view instanceof FakePlatform);
  assert.equal(view.memory, platform.memory);
  assert.notEqual(view.timers, platform.timers);
  assert.equal(platform.timers.pendingCount, 0);
  view.timers.setTimeout(() => {}, 1);
  assert.equal(platform.timers.pendingCount, 1, 'the real clock holds the timer (the VM frees it on stop)');
});

test('a real e1000 whose receive throws: the NIC fails, and its guest reads link down (STATUS.LU clear, ICR.LSC)', () => {
  const platform = new FakePlatform(8 * 1024 * 1024);
  const nic = createContainedNic(createE1000, platform, { mac: Uint8Array.of(2, 0, 0, 0, 0, 1) }, 'a/eth0 (e1000)');
  const fn = platform.functions[0]!;
  nic.setLinkUp(true);
  fn.read(0, REG.ICR);
  assert.equal(fn.read(0, REG.STATUS) & 2, 2, 'link up before');
  const events: string[] = [];
  nic.onDriverEvent((event) => events.push(event.type));
  injectNicFault(nic, new RangeError('offset is out of bounds'));
  assert.doesNotThrow(() => nic.receive([frame()]));
  assert.deepEqual(events, ['failed'], "the model's own 'stopped' (link down) is not passed on");
  assert.equal(fn.read(0, REG.STATUS) & 2, 0, 'the guest reads link down');
  assert.equal(fn.read(0, REG.ICR) & 4, 4, 'with a link status change cause');
});

test("containNic wraps once; a driver event listener that throws is reported and does not fail the NIC", () => {
  const { nic, model } = trapped();
  assert.equal(containNic(nic), nic);
  nic.onDriverEvent(() => {
    throw new Error('listener bug');
  });
  const original = console.error;
  console.error = () => {};
  try {
    assert.doesNotThrow(() => model.emit({ type: 'ready' }));
  } finally {
    console.error = original;
  }
  assert.equal(nic.failed, false);
});
