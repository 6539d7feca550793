// Micro-benchmark behind the VM-thread protocol's choice of frame transport
// (Node-only; run: node --import tsx emulator/worker/frame-transfer-bench.ts).
// Moves frames from the main thread to a worker and counts them there, two ways:
// - 'transfer': what the protocol does (wire.ts): per task, one message with a
//   batch of frames, each frame copied into its own ArrayBuffer, transferred;
// - 'sab': a SharedArrayBuffer ring (length-prefixed records, a write and a
//   read index), the consumer woken by Atomics.notify / Atomics.waitAsync
//   (a VM thread cannot block in Atomics.wait: v86 runs on it);
// - 'sab-bell': the same ring, the consumer woken by a small postMessage per
//   batch (what a SAB ring needs in Node 20, see below);
// - 'ring': the protocol's ring (ring.ts: offload metadata, bound checks, a
//   Frame copied out per frame, wake-ups only when the consumer sleeps).
//
// Measured 2026-11-29 on the shared 2-core machine (load 16-18, noisy), two runs:
//   transfer   64 B: 143-148 kframes/s, 2.7-2.8 CPU-s per million frames
//   sab        64 B: 793-1036 kframes/s, 0.5-0.6
//   sab-bell   64 B: 375-634 kframes/s, 0.7-0.9
//   transfer 1500 B: 57-83 kframes/s, 4.4-4.9
//   sab      1500 B: 169-185 kframes/s, 2.9-3.1
//   sab-bell 1500 B: 91-127 kframes/s, 3.5-4.6
// The ring wins (2-7x frames/s, 0.6x-0.2x CPU). Caveats: this consumer copies
// into one scratch buffer, while NIC.receive() needs a Frame it may keep (a
// copy per frame again); and a pending Atomics.waitAsync alone does not keep
// a Node 20 worker's event loop alive (nodejs/node#44729): the consumer needs
// a ref'd handle (a VM thread always has some). The protocol now has both
// (ring.ts; mode 'ring' here measures it); end to end (ring-lab-bench.ts) the
// ring was not faster, so transferables stay the default (DEFAULT_FRAME_TRANSPORT).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRing, RingReader, RingWriter } from './ring.ts';

const RING_BYTES = 1 << 20;
const BATCH = 32;
const SECONDS = 2;

interface Ring {
  data: Uint8Array;
  /** [write, read] byte positions, increasing forever; [2]: consumer wake-up word. */
  index: Int32Array;
}

function ringOf(sab: SharedArrayBuffer): Ring {
  return { index: new Int32Array(sab, 0, 4), data: new Uint8Array(sab, 16) };
}

/** Writes one frame; false when the ring is full. */
function ringWrite(ring: Ring, frame: Uint8Array): boolean {
  const write = Atomics.load(ring.index, 0);
  const read = Atomics.load(ring.index, 1);
  const need = 4 + frame.length;
  if (RING_BYTES - (write - read) < need) return false;
  let at = write % RING_BYTES;
  const header = [frame.length & 0xff, (frame.length >> 8) & 0xff, (frame.length >> 16) & 0xff, 0];
  for (const byte of header) {
    ring.data[at] = byte;
    at = (at + 1) % RING_BYTES;
  }
  const first = Math.min(frame.length, RING_BYTES - at);
  ring.data.set(frame.subarray(0, first), at);
  if (first < frame.length) ring.data.set(frame.subarray(first), 0);
  Atomics.store(ring.index, 0, write + need);
  return true;
}

/** Reads every complete record; returns how many. */
function drainRing(ring: Ring, scratch: Uint8Array): number {
  let frames = 0;
  let read = Atomics.load(ring.index, 1);
  const write = Atomics.load(ring.index, 0);
  while (read < write) {
    let at = read % RING_BYTES;
    const length = ring.data[at]! | (ring.data[(at + 1) % RING_BYTES]! << 8) | (ring.data[(at + 2) % RING_BYTES]! << 16);
    at = (at + 4) % RING_BYTES;
    const first = Math.min(length, RING_BYTES - at);
    scratch.set(ring.data.subarray(at, at + first));
    if (first < length) scratch.set(ring.data.subarray(0, length - first), first);
    read += 4 + length;
    frames++;
  }
  Atomics.store(ring.index, 1, read);
  return frames;
}

function consumer(): void {
  const port = parentPort!;
  const { mode, sab } = workerData as { mode: string; sab?: SharedArrayBuffer };
  let frames = 0;
  if (mode === 'sab-bell') {
    const ring = ringOf(sab!);
    const scratch = new Uint8Array(65_536);
    port.on('message', (message: { done?: boolean }) => {
      frames += drainRing(ring, scratch);
      if (message?.done) port.postMessage(frames);
    });
    return;
  }
  if (mode === 'transfer') {
    port.on('message', (message: { frames?: { data: Uint8Array }[]; done?: boolean }) => {
      if (message.done) return port.postMessage(frames);
      for (const frame of message.frames!) if (frame.data.length) frames++;
    });
    return;
  }
  if (mode === 'ring') {
    const keepAlive = setInterval(() => {}, 1000);
    const reader = new RingReader(sab!, (batch) => void (frames += batch.length), 'atomics');
    reader.start();
    port.on('message', () => {
      frames += reader.drain().length;
      clearInterval(keepAlive);
      reader.close();
      port.postMessage(frames);
    });
    return;
  }
  const ring = ringOf(sab!);
  const scratch = new Uint8Array(65_536);
  const drain = (): void => void (frames += drainRing(ring, scratch));
  // A pending waitAsync does not keep a worker alive in Node 20 (nodejs/node#44729): a ref'd timer does.
  const keepAlive = setInterval(() => {}, 1000);
  const wait = (): void => {
    const seen = Atomics.load(ring.index, 2);
    drain();
    if (Atomics.load(ring.index, 3) === 1) {
      clearInterval(keepAlive);
      return port.postMessage(frames);
    }
    const result = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: Promise<unknown> } }).waitAsync(ring.index, 2, seen);
    if (result.async) void result.value.then(wait);
    else setImmediate(wait);
  };
  wait();
}

type Mode = 'transfer' | 'sab' | 'sab-bell' | 'ring';

async function run(mode: Mode, size: number): Promise<{ fps: number; cpuPerMillion: number }> {
  const sab = mode === 'ring' ? createRing(RING_BYTES) : mode !== 'transfer' ? new SharedArrayBuffer(16 + RING_BYTES) : undefined;
  // From source: the worker registers tsx first (bootstrap.mjs), as a VM thread does.
  const worker = new Worker(new URL('./bootstrap.mjs', import.meta.url), { workerData: { entry: import.meta.url, mode, sab } });
  await new Promise((resolve) => worker.once('online', resolve));
  const frame = new Uint8Array(size).fill(0xab);
  const ring = sab && mode !== 'ring' ? ringOf(sab) : undefined;
  const writer = mode === 'ring' ? new RingWriter(sab!) : undefined;
  const cpu0 = process.cpuUsage();
  const began = performance.now();
  let sent = 0;
  while (performance.now() - began < SECONDS * 1000) {
    if (writer) {
      let wrote = 0;
      while (wrote < BATCH && writer.write({ data: frame })) wrote++;
      sent += wrote;
      writer.publish('atomics');
    } else if (ring) {
      let wrote = 0;
      while (wrote < BATCH && ringWrite(ring, frame)) wrote++;
      sent += wrote;
      if (mode === 'sab-bell') worker.postMessage(0);
      else {
        Atomics.add(ring.index, 2, 1);
        Atomics.notify(ring.index, 2);
      }
    } else {
      const transfer: ArrayBuffer[] = [];
      const frames = [];
      for (let i = 0; i < BATCH; i++) {
        const own = frame.slice();
        transfer.push(own.buffer);
        frames.push({ data: own });
      }
      worker.postMessage({ frames }, transfer);
      sent += BATCH;
    }
    // One batch per task, as a NIC's transmits come.
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (mode === 'sab-bell' || mode === 'ring') worker.postMessage({ done: true });
  else if (ring) {
    Atomics.store(ring.index, 3, 1);
    Atomics.add(ring.index, 2, 1);
    Atomics.notify(ring.index, 2);
  } else worker.postMessage({ done: true });
  const received = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('exit', (code) => reject(new Error(`${mode}: the consumer exited (${code}) before answering`)));
  });
  const seconds = (performance.now() - began) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await worker.terminate();
  if (received !== sent) throw new Error(`${mode}: sent ${sent}, received ${received}`);
  return { fps: received / seconds, cpuPerMillion: ((cpu.user + cpu.system) / 1e6 / received) * 1e6 };
}

if (isMainThread) {
  for (const size of [64, 1500]) {
    for (const mode of ['transfer', 'sab', 'sab-bell', 'ring'] as const) {
      const { fps, cpuPerMillion } = await run(mode, size);
      console.log(`${mode.padEnd(9)} ${String(size).padStart(4)} B: ${(fps / 1000).toFixed(0).padStart(6)} kframes/s, ${cpuPerMillion.toFixed(2)} CPU-s per million frames`);
    }
  }
} else {
  consumer();
}
