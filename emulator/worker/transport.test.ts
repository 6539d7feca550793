// Both frame transports end to end: the real VM side (serveVm) and the real
// switch side (VmThread, RemoteNic) over a MessageChannel, a scripted NIC in
// place of the emulator. Frames carry their offload metadata both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Frame, FrameSink } from '../net/frame.ts';
import type { GuestNic, NicCounters } from '../net/nic.ts';
import { serveVm, type Endpoint, type ServedVm } from './serve-vm.ts';
import { VmThread, type ThreadHandle } from './vm-thread.ts';
import type { FrameTransport } from './ring.ts';

class ScriptedNic implements GuestNic {
  readonly model = 'virtio' as const;
  readonly mac = new Uint8Array([2, 0, 0, 0, 0, 9]);
  readonly driverReady = true;
  readonly rxOffloads = { csum: true, gso: new Set(['tcp4' as const]), maxFrameSize: 65_550 };
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  sink: FrameSink | null = null;
  readonly received: Frame[] = [];
  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }
  receive(frames: readonly Frame[]): void {
    this.received.push(...frames);
  }
  setLinkUp(): void {}
  onDriverEvent(): () => void {
    return () => undefined;
  }
  saveState(): unknown {
    return null;
  }
  restoreState(): void {}
  destroy(): void {}
}

function endpointOf(port: MessagePort): Endpoint {
  return { threadId: 42, post: (m, t = []) => port.postMessage(m, t as never), onMessage: (l) => port.on('message', l), close: () => port.close() };
}

function handleOf(port: MessagePort): ThreadHandle {
  return { post: (m, t = []) => port.postMessage(m, t as never), onMessage: (l) => port.on('message', l), onExit: () => undefined, terminate: () => port.close() };
}

async function connected(transport: FrameTransport) {
  const { port1, port2 } = new MessageChannel();
  const nic = new ScriptedNic();
  let end!: (value: { reason: 'stopped' }) => void;
  const served: ServedVm = {
    nics: [nic],
    memoryMiB: 64,
    startInfo: { kind: 'cold', ms: 1 },
    console: { onData: () => () => undefined, write: () => undefined },
    ended: new Promise((resolve) => (end = resolve)),
    exec: async () => ({ output: '', exitCode: 0 }),
    saveSnapshot: async () => new Uint8Array(1),
    stop: async () => end({ reason: 'stopped' }),
  };
  serveVm(endpointOf(port2), async () => served);
  const vm = await VmThread.start(handleOf(port1), { name: 't', nics: [{ model: 'virtio' }] }, { transport });
  const fromGuest: Frame[] = [];
  vm.nics[0]!.setTransmitSink({ deliver: (frames) => fromGuest.push(...frames) });
  return { vm, nic, fromGuest, close: () => { port1.close(); port2.close(); } };
}

const until = async (done: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), what);
};

const FRAMES: Frame[] = [
  { data: new Uint8Array(60).fill(1) },
  { data: new Uint8Array(9000).fill(2), csum: { start: 34, offset: 16 }, gso: { type: 'tcp4', segmentSize: 1448, headerLength: 54 } },
  { data: new Uint8Array(1514).fill(3), csumVerified: true },
];

for (const transport of ['ring', 'transfer'] as const) {
  test(`frames with offload metadata cross both ways over ${transport === 'ring' ? 'the SharedArrayBuffer ring' : 'transferred messages'}`, async () => {
    const { vm, nic, fromGuest, close } = await connected(transport);
    try {
      assert.equal(vm.frameTransport, transport);
      vm.nics[0]!.receive(FRAMES);
      await until(() => nic.received.length === FRAMES.length, `the guest's NIC got ${nic.received.length} of ${FRAMES.length}`);
      nic.sink!.deliver(FRAMES);
      await until(() => fromGuest.length === FRAMES.length, `the switch got ${fromGuest.length} of ${FRAMES.length}`);
      for (const got of [nic.received, fromGuest]) {
        got.forEach((frame, i) => {
          assert.deepEqual(frame.data, FRAMES[i]!.data);
          assert.deepEqual(frame.csum, FRAMES[i]!.csum);
          assert.deepEqual(frame.gso, FRAMES[i]!.gso);
          assert.equal(frame.csumVerified, FRAMES[i]!.csumVerified);
        });
      }
      // The sender's frames are never detached or shared: each side has its own copy.
      assert.equal(FRAMES[0]!.data.length, 60);
      assert.notEqual(nic.received[0]!.data.buffer, FRAMES[0]!.data.buffer);
      assert.deepEqual(vm.ringDrops, {});
      await vm.stop();
    } finally {
      close();
    }
  });
}

test('a VM side that does not take the offered rings is spoken to with messages', async () => {
  const { port1, port2 } = new MessageChannel();
  // An older or remote VM side: answers 'started' without `rings`.
  port2.on('message', (m: { type: string }) => {
    if (m.type === 'start') port2.postMessage({ type: 'started', threadId: 3, memoryMiB: 64, start: { kind: 'cold', ms: 1 }, nics: [{ model: 'e1000', mac: '02:00:00:00:00:01', driverReady: true, rxOffloads: { csum: false, gso: [], maxFrameSize: 1518 } }] });
    if (m.type === 'frames') port2.postMessage({ type: 'log', line: 'got frames' });
  });
  const lines: string[] = [];
  const vm = await VmThread.start(handleOf(port1), { name: 'o', nics: [{ model: 'e1000' }] }, { transport: 'ring', log: (line) => lines.push(line) });
  assert.equal(vm.frameTransport, 'transfer');
  vm.nics[0]!.receive([{ data: new Uint8Array(60) }]);
  await until(() => lines.includes('got frames'), 'frames went as a message');
  port1.close();
  port2.close();
});

test("a VM thread scribbling into its ring is counted by reason on the switch's side; its honest frames still arrive", async () => {
  const { FakeThread, STARTED } = await import('./testing.ts');
  const { RingWriter } = await import('./ring.ts');
  const thread = new FakeThread();
  const starting = VmThread.start(thread, { name: 'h', nics: [{ model: 'e1000' }] }, { transport: 'ring' });
  const start = thread.posted[0] as Extract<import('./protocol.ts').ToVm, { type: 'start' }>;
  assert.equal(start.rings?.nics.length, 1);
  thread.send({ ...STARTED, rings: true });
  const vm = await starting;
  const got: Frame[] = [];
  vm.nics[0]!.setTransmitSink({ deliver: (frames) => got.push(...frames) });
  const ring = start.rings!.nics[0]!.fromVm;
  const writer = new RingWriter(ring);
  writer.write({ data: new Uint8Array(60).fill(5) });
  new DataView(ring, 64).setUint32(0, 1 << 30, true); // a length far beyond the ring
  writer.publish(start.rings!.wake);
  thread.send({ type: 'ring-wake', nic: 0 });
  await until(() => (vm.ringDrops['ring-record-corrupt'] ?? 0) === 1, `counted: ${JSON.stringify(vm.ringDrops)}`);
  assert.equal(got.length, 0);
  writer.write({ data: new Uint8Array(60).fill(6), csumVerified: true });
  writer.publish(start.rings!.wake);
  thread.send({ type: 'ring-wake', nic: 0 });
  await until(() => got.length === 1, 'the next honest frame arrives');
  assert.equal(got[0]!.data[0], 6);
  thread.exit('done');
  await vm.ended;
});
