// A NIC that throws on a plain wire (emulator/net/wire.ts): the delivery
// microtask never lets the exception reach the event loop (before issue 12 it
// did, and Node exited); the wire is unplugged, the fault recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { connectWire } from './wire.ts';
import { containNic, createContainedNic } from './contain.ts';
import { NO_RX_OFFLOADS, type Frame, type FrameSink, type RxOffloads } from './frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent } from './nic.ts';
import { injectNicFault, patternBytes } from './testing.ts';
import { FakePlatform } from '../testing.ts';
import { createE1000 } from '../devices/e1000/index.ts';
import { REG } from '../devices/e1000/registers.ts';

class StubNic implements GuestNic {
  readonly model = 'virtio' as const;
  readonly mac = new Uint8Array(6);
  readonly driverReady = true;
  rxOffloads: RxOffloads = NO_RX_OFFLOADS;
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  sink: FrameSink | null = null;
  received: Frame[] = [];
  link = false;
  throwOnReceive = false;
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();
  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }
  receive(frames: readonly Frame[]): void {
    if (this.throwOnReceive) throw new RangeError('offset is out of bounds');
    this.received.push(...frames);
  }
  setLinkUp(up: boolean): void {
    this.link = up;
  }
  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  saveState(): unknown {
    return {};
  }
  restoreState(): void {}
  destroy(): void {}
  send(...frames: Frame[]): void {
    this.sink?.deliver(frames);
  }
}

test('an uncontained NIC that throws in the wire delivery microtask: counted, the wire unplugged, the process lives on', async () => {
  const a = new StubNic();
  const b = new StubNic();
  const faults: string[] = [];
  const wire = connectWire(a, b, { onFault: (nic, error) => faults.push(`${nic === b ? 'b' : 'a'}: ${error.message}`) });
  b.throwOnReceive = true;
  a.send({ data: patternBytes(60) }, { data: patternBytes(60, 1) });
  // Before the fix this microtask threw and the test process died of an uncaught exception.
  await tick();
  assert.deepEqual(faults, ['b: offset is out of bounds']);
  assert.equal(wire.faults.length, 1);
  assert.equal(wire.counters.aToB.dropped['receiver-failed'], 2);
  assert.equal(a.link, false, 'the peer sees the cable pulled');
  assert.equal(b.link, false);
  a.send({ data: patternBytes(60) });
  await tick();
  assert.equal(wire.counters.aToB.frames, 2, 'nothing more crosses');
});

test('a contained e1000 that throws on a wire: its NIC fails once, the wire is unplugged, the peer link goes down', async () => {
  const a = new StubNic();
  const platform = new FakePlatform(8 * 1024 * 1024);
  const b = createContainedNic(createE1000, platform, { mac: Uint8Array.of(2, 0, 0, 0, 0, 0x0b) }, 'b/eth0 (e1000)');
  const events: string[] = [];
  b.onDriverEvent((event) => events.push(event.type));
  const wire = connectWire(a, b);
  assert.equal(platform.functions[0]!.read(0, REG.STATUS) & 2, 2);
  injectNicFault(b);
  a.send({ data: patternBytes(60) });
  await tick();
  assert.ok(events.includes('failed'));
  assert.equal(events.filter((e) => e === 'failed').length, 1);
  assert.equal(wire.faults.length, 1);
  assert.equal(wire.faults[0]!.nic, b);
  assert.equal(wire.faults[0]!.error.message, 'injected fault');
  assert.equal(a.link, false);
  assert.equal(platform.functions[0]!.read(0, REG.STATUS) & 2, 0, "the failed NIC's guest reads link down");
  a.send({ data: patternBytes(60) });
  await tick();
  assert.equal(b.counters.rxFrames, 0);
});

test('containNic wraps once; a listener that throws does not fail the NIC', () => {
  const raw = new StubNic();
  const nic = containNic(raw);
  assert.equal(containNic(nic), nic);
  nic.onDriverEvent(() => {
    throw new Error('listener bug');
  });
  const original = console.error;
  console.error = () => {};
  try {
    raw['listeners'].forEach((listener) => listener({ type: 'ready' }));
  } finally {
    console.error = original;
  }
  assert.equal(nic.failed, false);
});
