import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { connectWire } from './wire.ts';
import { NO_RX_OFFLOADS, type Frame, type FrameSink, type RxOffloads } from './frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent } from './nic.ts';
import { buildIpv4, injectNicFault, ipv4L4Valid, patternBytes } from './testing.ts';
import { createContainedNic } from './contain.ts';
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
  inReceive = false;
  /** A model bug: receive() throws. */
  throwOnReceive = false;
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
  onDriverEvent(_listener: (event: NicDriverEvent) => void): () => void {
    return () => {};
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

test('the wire delivers both ways, later (never inside the sender), with link up', async () => {
  const a = new StubNic();
  const b = new StubNic();
  const wire = connectWire(a, b);
  assert.ok(a.link && b.link);
  const frame = { data: patternBytes(60) };
  a.send(frame);
  assert.equal(b.received.length, 0, 'not delivered synchronously');
  await tick();
  assert.deepEqual(b.received, [frame]);
  b.send({ data: patternBytes(70) }, { data: patternBytes(80) });
  await tick();
  assert.equal(a.received.length, 2);
  assert.equal(wire.counters.aToB.frames, 1);
  assert.equal(wire.counters.bToA.bytes, 150);
  wire.disconnect();
  assert.ok(!a.link && !b.link);
  assert.equal(a.sink, null);
});

test('the wire segments for a receiver without GSO and passes GSO to one with it', async () => {
  const a = new StubNic();
  const b = new StubNic();
  const wire = connectWire(a, b);
  const packet = buildIpv4('tcp', patternBytes(4000), { seed: 'full' });
  const frame: Frame = { data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4', segmentSize: 1460, headerLength: packet.payload } };
  a.send(frame);
  await tick();
  assert.equal(b.received.length, 3);
  assert.ok(b.received.every((f) => ipv4L4Valid(f.data, packet.l3)));
  b.received = [];
  b.rxOffloads = { csum: true, gso: new Set(['tcp4']), maxFrameSize: 65550 };
  a.send(frame);
  await tick();
  assert.deepEqual(b.received, [frame]);
  // A malformed offload is dropped and counted, the rest goes through.
  a.send({ ...frame, gso: { type: 'tcp4', segmentSize: 0, headerLength: 54 } }, { data: patternBytes(60) });
  b.rxOffloads = NO_RX_OFFLOADS;
  await tick();
  assert.equal(b.received.length, 2);
  assert.equal(wire.counters.aToB.dropped['bad-gso-segment-size'], 1);
});

test('the wire queue is bounded and drops are counted', async () => {
  const a = new StubNic();
  const b = new StubNic();
  const wire = connectWire(a, b, { queueLimit: 4 });
  for (let i = 0; i < 10; i++) a.send({ data: patternBytes(60, i) });
  await tick();
  assert.equal(b.received.length, 4);
  assert.equal(wire.counters.aToB.dropped['queue-full'], 6);
  a.send({ data: patternBytes(60) });
  wire.disconnect();
  await tick();
  assert.equal(b.received.length, 4, 'nothing delivered after unplugging');
});

// A NIC that throws: the delivery microtask never lets the exception reach the event loop
// (before issue 12 it did, and Node exited); the wire is unplugged, the fault recorded.
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
