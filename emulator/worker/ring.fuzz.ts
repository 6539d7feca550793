// Fuzz target for the frame ring's consumer (ring.ts): the producing thread
// (a VM thread) is untrusted and may scribble anywhere in the shared memory,
// indices included, between any two of the consumer's reads. Whatever it
// writes, the consumer never throws, never hands out a frame longer than the
// protocol allows or with offloads it could not have encoded, counts what it
// refuses, and goes on taking well-formed frames afterwards.
import type { FuzzTarget, Rng } from '../../scripts/fuzz/harness.ts';
import type { Frame } from '../net/frame.ts';
import { createRing, RING_MAX_FRAME_BYTES, RingReader, RingWriter } from './ring.ts';

const CONTROL_BYTES = 64;

function scribble(rng: Rng, sab: SharedArrayBuffer): void {
  const control = new Int32Array(sab, 0, 16);
  const bytes = new Uint8Array(sab, CONTROL_BYTES);
  switch (rng.int(4)) {
    case 0:
      Atomics.store(control, rng.int(4), rng.edgy() | 0);
      return;
    case 1:
      bytes.set(rng.bytes(1 + rng.int(32)), rng.int(bytes.length - 32));
      return;
    case 2:
      new DataView(sab, CONTROL_BYTES).setUint32(rng.int(bytes.length / 16) * 16, rng.edgy(), true);
      return;
    default:
      new DataView(sab, CONTROL_BYTES).setUint8(rng.int(bytes.length / 16) * 16 + 4 + rng.int(2), rng.int(256));
  }
}

function check(frames: Frame[]): void {
  for (const frame of frames) {
    if (frame.data.length === 0 || frame.data.length > RING_MAX_FRAME_BYTES) throw new Error(`a frame of ${frame.data.length} bytes came out`);
    if (frame.gso && !['tcp4', 'tcp6', 'udp4'].includes(frame.gso.type)) throw new Error(`gso type ${frame.gso.type}`);
    if (frame.csum && (frame.csum.start > 0xffff || frame.csum.offset > 0xffff)) throw new Error('csum out of range');
  }
}

export const targets: FuzzTarget[] = [
  {
    name: 'worker.ring.hostile-producer',
    quick: 300,
    run(rng) {
      const sab = createRing(4096);
      const delivered: Frame[] = [];
      const reader = new RingReader(sab, (frames) => delivered.push(...frames), 'message');
      let writer = new RingWriter(sab);
      for (let step = 0; step < 40; step++) {
        if (rng.chance(0.5)) {
          for (let i = rng.int(4); i >= 0; i--) {
            const frame: Frame = { data: rng.bytes(1 + rng.int(rng.chance(0.1) ? 5000 : 300)) };
            if (rng.chance(0.3)) frame.csum = { start: rng.int(100), offset: rng.int(20) };
            if (rng.chance(0.2)) frame.gso = { type: rng.pick(['tcp4', 'tcp6', 'udp4'] as const), segmentSize: rng.int(2000), headerLength: rng.int(100) };
            writer.write(frame);
          }
          writer.publish('message');
        }
        if (rng.chance(0.4)) scribble(rng, sab);
        if (rng.chance(0.2)) writer = new RingWriter(sab); // a producer that re-reads whatever index it finds
        if (rng.chance(0.5)) check(reader.drain());
        if (rng.chance(0.2)) reader.woken();
      }
      check(delivered);
      // After the scribbling, an honest producer starting from the consumer's position is heard again.
      reader.drain();
      const control = new Int32Array(sab, 0, 16);
      Atomics.store(control, 0, Atomics.load(control, 1));
      const fresh = new RingWriter(sab);
      const frame = { data: rng.bytes(60), csumVerified: true };
      if (!fresh.write(frame)) throw new Error(`an honest frame was refused: ${JSON.stringify(fresh.dropped)}`);
      fresh.publish('message');
      const out = reader.drain();
      if (out.length !== 1 || out[0]!.data.length !== 60 || !out[0]!.csumVerified) throw new Error(`the ring did not recover: ${out.length} frames`);
    },
  },
];
