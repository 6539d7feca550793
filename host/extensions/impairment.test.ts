import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { Switch } from '../switch.ts';
import { FakeClock } from '../clock.ts';
import { ImpairmentExtension } from './impairment.ts';
import type { Impairment } from './impairment.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { AclFilter } from './acl.ts';
import { BROADCAST, ethFrame, mac } from '../testing.ts';

const NONE: Impairment = { delayMs: 0, jitterMs: 0, lossPercent: 0, duplicatePercent: 0, reorderPercent: 0, rateBitsPerSecond: 0, limitFrames: 0, down: false };
const imp = (i: Partial<Impairment>): Impairment => ({ ...NONE, ...i });

/** Records each frame's sequence number and the clock when it arrived. */
class TimedSink implements FrameSink {
  readonly got: { seq: number; at: number; bytes: number }[] = [];
  constructor(private readonly clock: FakeClock) {}
  deliver(frames: readonly Frame[]): void {
    for (const f of frames) this.got.push({ seq: new DataView(f.data.buffer, f.data.byteOffset).getUint32(14), at: this.clock.now(), bytes: f.data.length });
  }
  seqs(): number[] {
    return this.got.map((g) => g.seq);
  }
}

async function lab(seed = 7) {
  const clock = new FakeClock(1_000_000);
  const impairment = new ImpairmentExtension({ seed });
  const sw = new Switch({ timers: clock, extensions: [impairment, new MacLearningForwarder()] });
  const vms = [];
  for (const n of [1, 2]) {
    const sink = new TimedSink(clock);
    const port = await sw.createPort({ type: 'synthetic' });
    await sw.createNic(port.id, { type: 'synthetic', mac: mac(n), sink });
    await sw.connectNic(port.id, 0);
    vms.push({ portId: port.id, mac: mac(n), sink });
  }
  const [a, b] = vms as [(typeof vms)[0], (typeof vms)[0]];
  // Teach the forwarder both addresses, then start clean.
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac, { seq: 0 })]);
  sw.ingress(b.portId, 0, [ethFrame(BROADCAST, b.mac, { seq: 0 })]);
  a.sink.got.length = 0;
  b.sink.got.length = 0;
  const send = (seq: number, length = 64) => sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac, { seq, length })]);
  return { clock, impairment, sw, a, b, send };
}

test('no impairment set: frames go through in the same call, no timer, nothing counted', async () => {
  const { clock, impairment, sw, a, b, send } = await lab();
  impairment.set(a.portId, { send: NONE });
  send(1);
  assert.deepEqual(b.sink.seqs(), [1]);
  assert.equal(clock.pending, 0);
  assert.equal(sw.counters().droppedFrames, 0);
  assert.deepEqual(impairment.get(a.portId), { send: NONE, receive: null });
});

test('delay is exact on the switch clock, per direction, and the two directions add up', async () => {
  const { clock, impairment, a, b, send } = await lab();
  impairment.set(a.portId, { send: imp({ delayMs: 50 }) });
  const t0 = clock.now();
  send(1);
  clock.advance(49);
  assert.equal(b.sink.got.length, 0);
  clock.advance(1);
  assert.deepEqual(b.sink.got.map((g) => g.at - t0), [50]);
  impairment.set(b.portId, { receive: imp({ delayMs: 30 }) });
  const t1 = clock.now();
  send(2);
  clock.advance(79);
  assert.equal(b.sink.got.length, 1);
  clock.advance(1);
  assert.deepEqual(b.sink.got.map((g) => g.at - t1).slice(1), [80]);
  const c = impairment.counters(b.portId).receive;
  assert.equal(c.queued, 1);
  assert.equal(c.released, 1);
  // The deferred copy is not a loss: the receiving port shows it once as deferred, and it arrives.
  void a;
});

test('jitter spreads delays over delay +- jitter without reordering', async () => {
  const { clock, impairment, a, b, send } = await lab();
  impairment.set(a.portId, { send: imp({ delayMs: 50, jitterMs: 20 }) });
  const sent = new Map<number, number>();
  for (let i = 1; i <= 300; i++) {
    sent.set(i, clock.now());
    send(i);
    clock.advance(1);
  }
  clock.runAll();
  assert.deepEqual(b.sink.seqs(), Array.from({ length: 300 }, (_, i) => i + 1), 'in order');
  const delays = b.sink.got.map((g) => g.at - sent.get(g.seq)!);
  assert.ok(Math.min(...delays) >= 30 && Math.max(...delays) <= 70 + 40, `delays within bounds: ${Math.min(...delays)}..${Math.max(...delays)}`);
  assert.ok(Math.min(...delays) < 40, 'jitter reaches below the delay');
  assert.ok(new Set(delays.map(Math.round)).size > 10, 'delays vary');
  void a;
});

test('loss drops about the set percentage (fixed seed, binomial bounds) with reason impairment-loss', async () => {
  const { sw, impairment, a, b, send } = await lab(42);
  impairment.set(a.portId, { send: imp({ lossPercent: 10 }) });
  const n = 10_000;
  for (let i = 0; i < n; i++) send(i);
  const lost = n - b.sink.got.length;
  // mean 1000, sd 30: +- 5 sd.
  assert.ok(lost > 850 && lost < 1150, `lost ${lost}`);
  assert.equal(sw.counters(a.portId).drops['impairment-loss'], lost);
  assert.equal(impairment.counters(a.portId).send.lost, lost);
});

test('loss on the receive side excludes the copy to that port only', async () => {
  const { sw, impairment, a, b } = await lab(3);
  impairment.set(b.portId, { receive: imp({ lossPercent: 50 }) });
  for (let i = 0; i < 2000; i++) sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac, { seq: i })]);
  const got = b.sink.got.length;
  assert.ok(got > 1800 * 0.5 && got < 1100, `received ${got}`);
  assert.equal(sw.counters(b.portId).drops['impairment-loss'], 2000 - got);
});

test('duplicate adds about the set percentage of extra copies', async () => {
  const { clock, impairment, a, b, send } = await lab(9);
  impairment.set(a.portId, { send: imp({ duplicatePercent: 5 }) });
  const n = 10_000;
  for (let i = 0; i < n; i++) send(i);
  clock.runAll();
  const extra = b.sink.got.length - n;
  // mean 500, sd ~22.
  assert.ok(extra > 390 && extra < 610, `extra ${extra}`);
  assert.equal(impairment.counters(a.portId).send.duplicated, extra);
  assert.equal(new Set(b.sink.seqs()).size, n, 'every frame arrived');
});

test('duplicate on the receive side delivers extra copies to that port', async () => {
  const { clock, impairment, a, b, send } = await lab(9);
  impairment.set(b.portId, { receive: imp({ duplicatePercent: 20 }) });
  for (let i = 0; i < 1000; i++) send(i);
  clock.runAll();
  const extra = b.sink.got.length - 1000;
  assert.ok(extra > 130 && extra < 270, `extra ${extra}`);
  void a;
});

test('reorder sends about the set percentage ahead of the delayed ones', async () => {
  const { clock, impairment, a, b, send } = await lab(5);
  impairment.set(a.portId, { send: imp({ delayMs: 10, reorderPercent: 25 }) });
  const n = 4000;
  const sent = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    sent.set(i, clock.now());
    send(i);
    clock.advance(1);
  }
  clock.runAll();
  const immediate = b.sink.got.filter((g) => g.at === sent.get(g.seq)).length;
  // mean 1000, sd ~27.
  assert.ok(immediate > 860 && immediate < 1140, `sent ahead ${immediate}`);
  assert.equal(impairment.counters(a.portId).send.reordered, immediate);
  const seqs = b.sink.seqs();
  let inversions = 0;
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! < seqs[i - 1]!) inversions++;
  assert.ok(inversions > 500, `reordered arrivals: ${inversions}`);
  assert.equal(b.sink.got.length, n);
});

test('rate limit: a token bucket paces frames to the rate; over limitFrames queued are dropped', async () => {
  const { clock, impairment, sw, a, b, send } = await lab();
  impairment.set(a.portId, { send: imp({ rateBitsPerSecond: 1_000_000 }) });
  const t0 = clock.now();
  for (let i = 0; i < 200; i++) send(i, 1250); // 10 000 bits each
  clock.runAll();
  assert.equal(b.sink.got.length, 200);
  const last = b.sink.got.at(-1)!.at - t0;
  // 2 000 000 bits at 1 Mbit/s, less the bucket's one frame of burst.
  const bits = 200 * 1250 * 8;
  const rate = (bits - 1514 * 8) / (last / 1000);
  assert.ok(Math.abs(rate - 1_000_000) / 1_000_000 < 0.02, `throughput ${rate}`);
  assert.deepEqual(b.sink.seqs(), Array.from({ length: 200 }, (_, i) => i));
  // A queue limit of 10: one frame goes at once, 10 wait, the rest are tail-dropped.
  impairment.set(a.portId, { send: imp({ rateBitsPerSecond: 1_000_000, limitFrames: 10 }) });
  clock.advance(1000);
  b.sink.got.length = 0;
  for (let i = 0; i < 50; i++) send(i, 1250);
  clock.runAll();
  assert.equal(b.sink.got.length, 11);
  assert.equal(sw.counters(a.portId).drops['impairment-queue-full'], 39);
});

test('down drops everything (link-down) and what was queued; up again lets frames through', async () => {
  const { clock, impairment, sw, a, b, send } = await lab();
  impairment.set(a.portId, { send: imp({ delayMs: 100 }) });
  send(1);
  send(2);
  impairment.set(a.portId, { send: imp({ delayMs: 100, down: true }) });
  send(3);
  clock.advance(200);
  assert.equal(b.sink.got.length, 0);
  assert.equal(sw.counters(a.portId).drops['link-down'], 3);
  impairment.set(a.portId, { send: imp({ down: false }) });
  send(4);
  assert.deepEqual(b.sink.seqs(), [4]);
  impairment.set(b.portId, { receive: imp({ down: true }) });
  send(5);
  assert.deepEqual(b.sink.seqs(), [4]);
  assert.equal(sw.counters(b.portId).drops['link-down'], 1);
});

test('changing the delay while frames are queued keeps their times and their order', async () => {
  const { clock, impairment, a, b, send } = await lab();
  const t0 = clock.now();
  impairment.set(a.portId, { send: imp({ delayMs: 100 }) });
  send(1);
  clock.advance(10);
  impairment.set(a.portId, { send: imp({ delayMs: 5 }) });
  send(2);
  clock.advance(10);
  assert.equal(b.sink.got.length, 0, 'the second frame waits behind the first');
  clock.advance(80);
  assert.deepEqual(b.sink.got.map((g) => [g.seq, g.at - t0]), [[1, 100], [2, 100]]);
  // Removing the impairment: frames queued still leave in order, new ones follow at once when nothing waits.
  impairment.set(a.portId, { send: imp({ delayMs: 50 }) });
  send(3);
  impairment.clear(a.portId);
  send(4);
  assert.equal(b.sink.got.length, 2);
  clock.advance(50);
  assert.deepEqual(b.sink.seqs().slice(2), [3, 4]);
  send(5);
  assert.deepEqual(b.sink.seqs().slice(4), [5]);
  assert.equal(clock.pending, 0);
  assert.deepEqual(impairment.get(a.portId), { send: null, receive: null });
});

test('stop: frames held by a delay are dropped (impairment-flushed) at NIC_DISCONNECT, so NIC_DELETE does not wait', async () => {
  const { clock, impairment, sw, a, b, send } = await lab();
  const timeouts: unknown[] = [];
  sw.on('timeout', (e) => timeouts.push(e));
  impairment.set(a.portId, { send: imp({ delayMs: 60_000 }) });
  impairment.set(b.portId, { receive: imp({ delayMs: 60_000 }) });
  for (let i = 0; i < 5; i++) send(i);
  assert.equal(impairment.queued(a.portId), 5);
  assert.equal(sw.counters().heldFrames, 5);
  const stopped = sw.stopPort(a.portId);
  await stopped;
  assert.deepEqual(timeouts, []);
  assert.equal(sw.counters().heldFrames, 0);
  assert.equal(sw.counters().drops['impairment-flushed'], 5);
  assert.equal(impairment.counters(a.portId).send.flushed, 0, 'the deleted port starts over');
  // A receive queue toward a NIC that disconnects is dropped too.
  const c = await sw.createPort({ type: 'synthetic' });
  const sink = new TimedSink(clock);
  await sw.createNic(c.id, { type: 'synthetic', mac: mac(3), sink });
  await sw.connectNic(c.id, 0);
  sw.ingress(c.id, 0, [ethFrame(b.mac, mac(3), { seq: 9 })]);
  assert.equal(impairment.queued(b.portId), 1);
  await sw.disconnectNic(b.portId, 0);
  assert.equal(impairment.queued(b.portId), 0);
  assert.equal(impairment.counters(b.portId).receive.flushed, 1);
  clock.runAll();
  assert.equal(b.sink.got.length, 0);
});

test('removing the extension drops what it holds and cancels its timers', async () => {
  const { clock, impairment, sw, a, send } = await lab();
  impairment.set(a.portId, { send: imp({ delayMs: 100 }) });
  send(1);
  sw.removeExtension(impairment.name);
  assert.equal(sw.counters().heldFrames, 0);
  assert.equal(sw.counters(a.portId).drops['impairment-flushed'], 1);
  assert.equal(clock.pending, 0);
});

test('set() refuses bad values; the same seed gives the same run', async () => {
  const { impairment, a } = await lab();
  assert.throws(() => impairment.set(a.portId, { send: imp({ lossPercent: 101 }) }), RangeError);
  assert.throws(() => impairment.set(a.portId, { send: imp({ delayMs: -1 }) }), RangeError);
  assert.throws(() => impairment.set(a.portId, { send: imp({ delayMs: Number.NaN }) }), RangeError);
  assert.throws(() => impairment.set(0, { send: NONE }), RangeError);
  const runs = [];
  for (let k = 0; k < 2; k++) {
    const l = await lab(11);
    l.impairment.set(l.a.portId, { send: imp({ lossPercent: 30, duplicatePercent: 10, delayMs: 5, jitterMs: 5, reorderPercent: 10 }) });
    for (let i = 0; i < 500; i++) {
      l.send(i);
      l.clock.advance(1);
    }
    l.clock.runAll();
    runs.push(l.b.sink.got.map((g) => `${g.seq}@${g.at}`).join(','));
  }
  assert.equal(runs[0], runs[1]);
});

test('a late copy keeps its source: an ACL below that allows by source port still passes it, and it is counted once as deferred', async () => {
  const clock = new FakeClock(0);
  const impairment = new ImpairmentExtension();
  const sw = new Switch({ timers: clock, extensions: [impairment, new MacLearningForwarder()] });
  const sinks = [new TimedSink(clock), new TimedSink(clock)];
  const ids: number[] = [];
  for (const [k, sink] of sinks.entries()) {
    const port = await sw.createPort({ type: 'synthetic' });
    await sw.createNic(port.id, { type: 'synthetic', mac: mac(k + 1), sink });
    await sw.connectNic(port.id, 0);
    ids.push(port.id);
  }
  sw.addExtension(new AclFilter({ defaultAction: 'deny', rules: [{ name: 'from-a', action: 'allow', sourcePorts: [ids[0]!] }] }));
  sw.ingress(ids[1]!, 0, [ethFrame(BROADCAST, mac(2))]); // denied: b may not send
  sw.ingress(ids[0]!, 0, [ethFrame(BROADCAST, mac(1))]);
  impairment.set(ids[1]!, { receive: imp({ delayMs: 20 }) });
  sw.ingress(ids[0]!, 0, [ethFrame(mac(2), mac(1), { seq: 5 })]);
  clock.advance(20);
  assert.deepEqual(sinks[1]!.got.map((g) => [g.seq, g.at]), [[0, 0], [5, 20]]);
  assert.equal(sw.counters(ids[1]!).drops['impairment-deferred'], 1);
  assert.equal(sw.counters().drops['acl:default'], 1, "only b's own frame was denied");
});
