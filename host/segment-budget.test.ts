import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../emulator/net/frame.ts';
import { MIN_GSO_SEGMENT_SIZE } from '../emulator/net/offload.ts';
import { buildIpv4, ipv4L4Valid, patternBytes } from '../emulator/net/testing.ts';
import { SwitchPortAttachment } from './attach.ts';
import { SEGMENT_BUDGET, SegmentBudget } from './segment-budget.ts';
import { Switch } from './switch.ts';
import { BROADCAST, ScriptedNic, VirtualClock, mac } from './testing.ts';
import { frameProblem } from './validate.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A 64 KiB TCP/IPv4 GSO frame from `src` to `dst` at segment size `mss` (what a guest's TSO write hands the switch). */
function tsoFrame(src: Uint8Array, dst: Uint8Array, mss: number, seq = 1000): Frame {
  const packet = buildIpv4('tcp', patternBytes(65535 - 40), { srcMac: [...src], dstMac: [...dst], seed: 'full', seq });
  return { data: packet.data, csum: { start: packet.l4, offset: 16 }, gso: { type: 'tcp4', segmentSize: mss, headerLength: packet.payload } };
}

/** A guest that counts what it is given and keeps only the last batch (a flood must not fill the test's memory). */
class CountingNic extends ScriptedNic {
  count = 0;
  override receive(frames: readonly Frame[]): void {
    this.count += frames.length;
    this.received.length = 0;
    for (const frame of frames) this.received.push(frame);
  }
}

/** One sender and `receivers` guests that cannot take GSO frames (e1000s): every copy is segmented for them. */
async function lab(receivers: number) {
  const clock = new VirtualClock();
  const sw = new Switch({ clock: clock.now });
  const sender = new ScriptedNic('virtio', mac(1), true);
  await (await SwitchPortAttachment.attach(sw, sender, { vmName: 'sender', index: 0 })).settled();
  const guests: { nic: CountingNic; attachment: SwitchPortAttachment }[] = [];
  for (let i = 0; i < receivers; i++) {
    const nic = new CountingNic('e1000', mac(2 + i), true);
    const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: `r${i}`, index: 0 });
    await attachment.settled();
    guests.push({ nic, attachment });
  }
  /** The sender transmits `frames` in one write; resolves when the switch has delivered them. Returns the segments each receiver got. */
  const write = async (frames: Frame[]): Promise<number[]> => {
    const before = guests.map((g) => g.nic.count);
    sender.sink!.deliver(frames);
    await tick();
    return guests.map((g, i) => g.nic.count - before[i]!);
  };
  return { clock, sw, sender, guests, write };
}

test('the budget: a full bucket to start, refilled with time up to the burst, never over; a clock stepping back refills nothing', () => {
  const clock = new VirtualClock();
  const limits = { segmentsPerSecond: 1000, bytesPerSecond: 100_000, burstSegments: 100, burstBytes: 10_000 };
  const budget = new SegmentBudget(clock.now, limits);
  assert.equal(budget.take(100, 100), true, 'the whole burst at once');
  assert.equal(budget.take(1, 1), false, 'then nothing');
  clock.advance(10);
  assert.equal(budget.take(11, 11), false, '10 ms refills 10 segments, not 11');
  assert.equal(budget.take(10, 10), true);
  clock.advance(60_000);
  assert.equal(budget.take(101, 101), false, 'a long pause refills to the burst, not beyond');
  assert.equal(budget.take(100, 10_000), true);
  clock.time -= 5_000;
  assert.equal(budget.take(1, 1), false, 'a clock set back gives nothing');
  clock.advance(1);
  assert.equal(budget.take(1, 1), true, 'and counting resumes from there');
  assert.equal(budget.take(1, 200), false, 'bytes are budgeted as well as segments');
});

test('the switch port drops a GSO frame whose segment size is below the floor, by reason', () => {
  const frame = tsoFrame(mac(1), mac(2), MIN_GSO_SEGMENT_SIZE - 1);
  assert.equal(frameProblem(frame, 1500), 'gso-segment-too-small');
  assert.equal(frameProblem({ ...frame, gso: { ...frame.gso!, segmentSize: 1 } }, 1500), 'gso-segment-too-small');
  assert.equal(frameProblem({ ...frame, gso: { ...frame.gso!, segmentSize: MIN_GSO_SEGMENT_SIZE } }, 1500), null);
});

test('32 x 64 KiB TSO frames at MSS 16 broadcast to 3 guests build no segments: dropped at the sender port, counted', async () => {
  // Measured before the floor: 391k segments, +225 MB RSS, ~1 s of event loop for this one write.
  const { sw, write } = await lab(3);
  const got = await write(Array.from({ length: 32 }, (_, i) => tsoFrame(mac(1), BROADCAST, 16, i * 65495)));
  assert.deepEqual(got, [0, 0, 0]);
  assert.equal(sw.counters(1).drops['gso-segment-too-small'], 32);
});

test('at the floor, a flood of 64 KiB TSO frames to 3 guests builds at most the budget per guest; the rest is dropped and counted', async () => {
  const { clock, guests, write } = await lab(3);
  const perFrame = Math.ceil((65535 - 40) / MIN_GSO_SEGMENT_SIZE); // 745 segments
  const flood = () => Array.from({ length: 64 }, (_, i) => tsoFrame(mac(1), BROADCAST, MIN_GSO_SEGMENT_SIZE, i * 65495));
  let built = await write(flood());
  const burstFrames = Math.floor(SEGMENT_BUDGET.burstSegments / perFrame);
  assert.deepEqual(built, [0, 1, 2].map(() => burstFrames * perFrame), 'one burst per guest, whole frames only');
  for (const g of guests) assert.equal(g.attachment.deliveryDrops['segment-budget'], 64 - burstFrames);

  // Sustained: a second later, a second's worth of segments more, never the whole flood.
  clock.advance(1000);
  built = await write(flood());
  const perSecond = Math.floor(SEGMENT_BUDGET.segmentsPerSecond / perFrame);
  for (const n of built) {
    assert.ok(n <= Math.min(SEGMENT_BUDGET.burstSegments, SEGMENT_BUDGET.segmentsPerSecond), `${n} segments built in a second`);
    assert.ok(n >= Math.min(burstFrames, perSecond) * perFrame, 'the refill is spent');
  }
  for (const g of guests) assert.equal(g.attachment.deliveryDrops['segment-budget'], 2 * 64 - burstFrames - built[0]! / perFrame);
});

test('a guest at line rate (64 KiB TSO frames at MSS 1448, 90 MiB/s and a full ring at once) is never limited', async () => {
  const { clock, guests, write } = await lab(1);
  const perFrame = Math.ceil((65535 - 40) / 1448);
  // A full 256-entry transmit ring of 64 KiB frames in one write.
  let total = 0;
  let expected = 0;
  const ring = Array.from({ length: 256 }, (_, i) => tsoFrame(mac(1), mac(2), 1448, i * 65495));
  total += (await write(ring))[0]!;
  expected += 256 * perFrame;
  // Then 1 s at 90 MiB/s: 14 or 15 frames every 10 ms (1440 frames/s = 90 MiB/s).
  const frame = ring[0]!;
  for (let slice = 0; slice < 100; slice++) {
    clock.advance(10);
    const count = slice % 5 < 2 ? 15 : 14;
    total += (await write(Array.from({ length: count }, () => frame)))[0]!;
    expected += count * perFrame;
  }
  assert.equal(guests[0]!.attachment.deliveryDrops['segment-budget'], undefined);
  assert.equal(total, expected);
});

test('segments built within the budget are the real ones (checksummed, whole)', async () => {
  const { guests, sender } = await lab(1);
  sender.sink!.deliver([tsoFrame(mac(1), mac(2), 1448)]);
  await tick();
  const got = guests[0]!.nic.received;
  assert.equal(got.length, Math.ceil((65535 - 40) / 1448));
  for (const segment of got) assert.ok(ipv4L4Valid(segment.data, 14));
});
