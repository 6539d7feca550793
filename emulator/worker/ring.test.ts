import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { Frame } from '../net/frame.ts';
import { createRing, DEFAULT_FRAME_TRANSPORT, pickFrameTransport, RingReader, RingWriter } from './ring.ts';

const CONTROL_BYTES = 64;
const frameOf = (length: number, fill: number): Frame => ({ data: new Uint8Array(length).fill(fill) });

function pair(capacity = 4096) {
  const sab = createRing(capacity);
  const got: Frame[] = [];
  const reader = new RingReader(sab, (frames) => got.push(...frames), 'message');
  return { sab, writer: new RingWriter(sab), reader, got };
}

test('frames with their offload metadata come out as they went in, wrapping around the end many times', () => {
  const { writer, reader } = pair();
  let sent = 0;
  for (let round = 0; round < 200; round++) {
    const batch: Frame[] = [];
    for (let i = 0; i < 3; i++) {
      const length = 1 + ((round * 37 + i * 101) % 1400);
      const frame = frameOf(length, (sent + 1) & 0xff);
      frame.data[0] = sent & 0xff;
      frame.data[length - 1] = (sent >> 8) & 0xff;
      if (sent % 3 === 0) frame.csum = { start: 34, offset: 16 };
      if (sent % 5 === 0) frame.gso = { type: (['tcp4', 'tcp6', 'udp4'] as const)[sent % 3]!, segmentSize: 1448, headerLength: 54 };
      if (sent % 2 === 0) frame.csumVerified = true;
      assert.ok(writer.write(frame), `frame ${sent} fits`);
      batch.push(frame);
      sent++;
    }
    writer.publish('message');
    const out = reader.drain();
    assert.equal(out.length, batch.length);
    out.forEach((frame, i) => {
      assert.deepEqual(frame.data, batch[i]!.data);
      assert.deepEqual(frame.csum, batch[i]!.csum);
      assert.deepEqual(frame.gso, batch[i]!.gso);
      assert.equal(frame.csumVerified, batch[i]!.csumVerified);
      assert.notEqual(frame.data.buffer, batch[i]!.data.buffer);
    });
  }
  assert.equal(reader.read, sent);
  assert.deepEqual(reader.dropped, {});
});

test('a full ring drops with queue-full and never blocks; room comes back once read', () => {
  const { writer, reader } = pair(4096);
  let written = 0;
  while (writer.write(frameOf(1000, 1))) written++;
  assert.equal(written, 4, '4 records of 1016 bytes fit 4096');
  assert.equal(writer.dropped['queue-full'], 1);
  writer.publish('message');
  assert.equal(reader.drain().length, 4);
  assert.ok(writer.write(frameOf(1000, 2)));
});

test('empty and oversize frames, and offloads that do not fit a record, are refused with a reason', () => {
  const { writer } = pair(1 << 17);
  assert.equal(writer.write(frameOf(0, 0)), false);
  assert.equal(writer.write(frameOf(65_551, 0)), false);
  assert.equal(writer.write({ data: new Uint8Array(60), csum: { start: 70_000, offset: 0 } }), false);
  assert.equal(writer.dropped['ring-frame-unencodable'], 3);
  assert.ok(writer.write(frameOf(65_550, 0)), 'the largest frame fits');
});

test('hostile headers and indices are refused: counted, nothing read out of bounds, the ring goes on', () => {
  const { sab, writer, reader } = pair(4096);
  const control = new Int32Array(sab, 0, 16);
  const view = new DataView(sab, CONTROL_BYTES);
  // A length beyond what was published.
  writer.write(frameOf(100, 1));
  writer.publish('message');
  view.setUint32(0, 3000, true);
  assert.equal(reader.drain().length, 0);
  assert.equal(reader.dropped['ring-record-corrupt'], 1);
  // A length beyond the largest frame, a zero length, a bad flag byte, a bad GSO type.
  for (const poison of [(at: number) => view.setUint32(at, 0xffffffff, true), (at: number) => view.setUint32(at, 0, true), (at: number) => view.setUint8(at + 4, 0x80), (at: number) => view.setUint8(at + 5, 9)]) {
    const at = (Atomics.load(control, 0) >>> 0) & 4095;
    writer.write({ data: new Uint8Array(60), gso: { type: 'tcp4', segmentSize: 1, headerLength: 1 } });
    writer.publish('message');
    poison(at);
    assert.equal(reader.drain().length, 0);
  }
  assert.equal(reader.dropped['ring-record-corrupt'], 5);
  // A write index far ahead of the read index (more than the capacity), and one not on a record boundary.
  Atomics.store(control, 0, (Atomics.load(control, 1) + 1_000_000) | 0);
  assert.equal(reader.drain().length, 0);
  Atomics.store(control, 0, (Atomics.load(control, 1) + 8) | 0);
  assert.equal(reader.drain().length, 0);
  assert.equal(reader.dropped['ring-record-corrupt'], 7);
  // A read index the consumer scribbled: the producer refuses to write over what it cannot account for.
  const producer = new RingWriter(sab);
  Atomics.store(control, 1, (Atomics.load(control, 0) - 100_000) | 0);
  assert.equal(producer.write(frameOf(60, 1)), false);
  assert.equal(producer.dropped['ring-record-corrupt'], 1);
});

test('the consumer sleeps and is woken by a message per batch only when it sleeps', () => {
  const { writer, reader, got } = pair();
  reader.start();
  writer.write(frameOf(60, 1));
  assert.equal(writer.publish('message'), true, 'asleep: wake it');
  writer.write(frameOf(60, 2));
  assert.equal(writer.publish('message'), false, 'already told');
  reader.woken();
  assert.equal(got.length, 2);
  writer.write(frameOf(60, 3));
  assert.equal(writer.publish('message'), true, 'asleep again after draining');
  reader.woken();
  assert.equal(got.length, 3);
  assert.equal(writer.publish('message'), false, 'nothing written, nothing to wake');
});

test('Atomics.waitAsync wakes a consumer in another thread; its deliveries arrive in order', async () => {
  const sab = createRing(1 << 16);
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const control = new Int32Array(workerData, 0, 16);
     const bytes = new Uint8Array(workerData, 64);
     let read = 0, frames = 0, sum = 0;
     const keepAlive = setInterval(() => {}, 1000);
     const drain = () => {
       const write = Atomics.load(control, 0) >>> 0;
       while (read !== write) {
         const at = read & (bytes.length - 1);
         const length = bytes[at] | (bytes[at + 1] << 8);
         sum += bytes[(at + 16) & (bytes.length - 1)];
         frames++;
         read = (read + 16 + ((length + 15) & ~15)) >>> 0;
       }
       Atomics.store(control, 1, read | 0);
     };
     const sleep = () => {
       const seen = Atomics.load(control, 2);
       Atomics.store(control, 3, 1);
       drain();
       if (frames >= 1000) { clearInterval(keepAlive); parentPort.postMessage({ frames, sum }); return; }
       const r = Atomics.waitAsync(control, 2, seen);
       if (r.async) r.value.then(sleep); else setImmediate(sleep);
     };
     sleep();`,
    { eval: true, workerData: sab },
  );
  const writer = new RingWriter(sab);
  const answer = new Promise<{ frames: number; sum: number }>((resolve) => worker.once('message', resolve));
  let expectedSum = 0;
  for (let i = 0; i < 1000; ) {
    if (writer.write(frameOf(100, i % 200))) {
      expectedSum += i % 200;
      i++;
    } else await new Promise((r) => setTimeout(r, 1));
    if (i % 10 === 0) writer.publish('atomics');
  }
  writer.publish('atomics');
  assert.deepEqual(await answer, { frames: 1000, sum: expectedSum });
  await worker.terminate();
});

test('a RingReader with Atomics.waitAsync delivers without any message, and close() releases its wait', async () => {
  const sab = createRing();
  const got: Frame[] = [];
  const reader = new RingReader(sab, (frames) => got.push(...frames), 'atomics');
  reader.start();
  const writer = new RingWriter(sab);
  writer.write(frameOf(64, 7));
  assert.equal(writer.publish('atomics'), false);
  for (let i = 0; i < 100 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(got.length, 1);
  assert.equal(got[0]!.data[0], 7);
  reader.close();
});

test('the launch offers the ring only where shared memory is usable, and only when asked (transferables are the default)', () => {
  assert.equal(pickFrameTransport(), DEFAULT_FRAME_TRANSPORT);
  assert.equal(pickFrameTransport({ preferred: 'ring' }), 'ring');
  assert.equal(pickFrameTransport({ crossOriginIsolated: true, preferred: 'ring' }), 'ring');
  assert.equal(pickFrameTransport({ crossOriginIsolated: false, preferred: 'ring' }), 'transfer');
  assert.equal(pickFrameTransport({ crossOriginIsolated: true, preferred: 'transfer' }), 'transfer');
});

test('a thread scribbling over the whole ring while the consumer reads never breaks the consumer (TOCTOU)', async () => {
  const sab = createRing(4096);
  const stop = new Int32Array(new SharedArrayBuffer(8));
  const scribbler = new Worker(
    `const { workerData } = require('node:worker_threads');
     const control = new Int32Array(workerData.sab, 0, 16);
     const bytes = new Uint8Array(workerData.sab, 64);
     const stop = new Int32Array(workerData.stop);
     let x = 12345;
     const rand = () => (x = (x * 1103515245 + 12345) >>> 0);
     while (Atomics.load(stop, 0) === 0) {
       Atomics.add(stop, 1, 1);
       for (let i = 0; i < 64; i++) bytes[rand() & 4095] = rand() & 0xff;
       if ((rand() & 7) === 0) Atomics.store(control, 0, rand() | 0);
       if ((rand() & 3) === 0) Atomics.store(control, 0, (Atomics.load(control, 1) + 16 * (rand() & 255)) | 0);
     }`,
    { eval: true, workerData: { sab, stop: stop.buffer } },
  );
  await new Promise((resolve) => scribbler.once('online', resolve));
  const reader = new RingReader(sab, () => undefined, 'message');
  const writer = new RingWriter(sab);
  let frames = 0;
  const began = Date.now();
  try {
    // Until the scribbler has run a while and been caught at least once (a loaded machine may schedule it late).
    while (Date.now() - began < 60_000 && (Date.now() - began < 400 || Atomics.load(stop, 1) < 10_000 || !reader.dropped['ring-record-corrupt'])) {
      writer.write(frameOf(1 + (frames % 200), 1));
      writer.publish('message');
      for (const frame of reader.drain()) {
        assert.ok(frame.data.length > 0 && frame.data.length <= 65_550, `${frame.data.length} bytes`);
        frames++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    Atomics.store(stop, 0, 1);
    await scribbler.terminate();
  }
  assert.ok((reader.dropped['ring-record-corrupt'] ?? 0) > 0, 'the scribbles were seen and refused');
});
