// Fuzz target for the shared switch's message handler, played as a hostile
// page: messages of any kind (text, bytes of any length, ArrayBuffers, other
// values), source MACs of its own, another page's, multicast; tags; floods
// over a virtual clock.
//   shared.page-messages  nothing throws; every frame reaching the other page
//                         came from the sender's own MAC prefix and fits the
//                         MTU; every message is either a frame or a drop with a
//                         catalogued reason; leaving leaves no port.
import type { FuzzTarget, Rng } from '../scripts/fuzz/harness.ts';
import { SHARED_SWITCH_DROP_REASONS } from '../host/drop-reasons.ts';
import { sumValues } from '../host/counters.ts';
import { VirtualClock } from '../host/testing.ts';
import { parseMac } from '../emulator/net/frame.ts';
import { pageMac } from '../host/uplink/websocket-protocol.ts';
import { SharedSwitch } from './shared-switch.ts';
import { RecordingPageSocket } from './shared-switch-testing.ts';

const REASONS = new Set<string>(Object.values(SHARED_SWITCH_DROP_REASONS));

function randomMessage(rng: Rng): { data: unknown; isBinary: boolean } {
  const kind = rng.int(10);
  if (kind === 0) return { data: String.fromCharCode(...rng.bytes(rng.int(40))), isBinary: false };
  if (kind === 1) return { data: rng.pick([null, undefined, 42, {}, [1, 2], { length: 60 }, 'x']), isBinary: rng.chance(0.5) };
  const length = rng.pick([0, 1, 13, 14, 15, 60, 1514, 1515, 1518, 1519, 9000, rng.int(1600)]);
  const data = rng.bytes(length);
  if (length >= 12 && rng.chance(0.7)) {
    // Source MAC: page 1's own VMs, page 2's, broadcast, or noise.
    const source = rng.pick([pageMac(1, rng.int(256), rng.int(3)), pageMac(2, 1, 0), 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01']);
    data.set(parseMac(source), 6);
  }
  if (length >= 18 && rng.chance(0.2)) data.set([0x81, 0x00, rng.int(16), rng.int(256)], 12);
  return { data: rng.chance(0.2) ? data.slice().buffer : data, isBinary: rng.chance(0.95) };
}

const pageMessages: FuzzTarget = {
  name: 'shared.page-messages',
  quick: 60,
  async run(rng) {
    const clock = new VirtualClock();
    const shared = new SharedSwitch({ clock: clock.now, framesPerSecond: rng.pick([40, 20_000]), bytesPerSecond: rng.pick([20_000, 32 << 20]) });
    const sender = new RecordingPageSocket();
    const receiver = new RecordingPageSocket();
    const page = shared.admit(sender, { origin: 'fuzz', address: 'fuzz' });
    const other = shared.admit(receiver, { origin: 'fuzz', address: 'fuzz' });
    if (rng.chance(0.9)) await page.settled();
    await other.settled();
    for (let i = 0; i < 60; i++) {
      clock.advance(rng.int(20));
      const { data, isBinary } = randomMessage(rng);
      page.receive(data, isBinary);
    }
    const frames = receiver.frames;
    for (const frame of frames) {
      if (frame[6] !== 0x0a || frame[7] !== 0x76 || frame[8] !== 0x6d || frame[9] !== 1) throw new Error(`a frame from ${[...frame.subarray(6, 12)].map((b) => b.toString(16)).join(':')} crossed`);
      if (frame.length < 14 || frame.length > 1518) throw new Error(`a frame of ${frame.length} bytes crossed`);
    }
    for (const reason of Object.keys(page.drops)) if (!REASONS.has(reason)) throw new Error(`uncatalogued reason ${reason}`);
    const dropped = sumValues(page.drops as Record<string, number>);
    if (page.counters.rxFrames + dropped !== page.counters.rxMessages) throw new Error(`counters ${JSON.stringify(page.counters)} drops ${JSON.stringify(page.drops)}`);
    await page.leave();
    await other.leave();
    if (shared.switch.ports().length) throw new Error('ports left after the pages left');
  },
};

export const targets: FuzzTarget[] = [pageMessages];
