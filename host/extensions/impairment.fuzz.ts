// Fuzz target for the impairment queues: a seeded random walk of settings
// (every knob, both directions, changed while frames wait), traffic between
// three VMs, clock steps, link down/up and NICs disconnected, reconnected and
// stopped. Invariants after every step: no exception; the switch's counters
// add up (every frame dropped, forwarded or held); the switch holds exactly
// the frames the extension has queued from senders; nothing reaches a NIC
// that is not connected. At the end, with impairments cleared and time run
// out: nothing held, nothing queued, no timer left.
import type { FuzzTarget, Rng } from '../../scripts/fuzz/harness.ts';
import type { Frame } from '../../emulator/net/frame.ts';
import { Switch } from '../switch.ts';
import { FakeClock } from '../clock.ts';
import { ImpairmentExtension } from './impairment.ts';
import type { Impairment } from './impairment.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, ethFrame, mac } from '../testing.ts';

function randomImpairment(rng: Rng): Impairment | null {
  if (rng.chance(0.2)) return null;
  const pct = () => (rng.chance(0.5) ? 0 : rng.pick([0.5, 5, 30, 100]));
  return {
    delayMs: rng.chance(0.4) ? 0 : rng.pick([1, 5, 50, 500]),
    jitterMs: rng.chance(0.6) ? 0 : rng.pick([1, 10, 100]),
    lossPercent: pct(),
    duplicatePercent: pct(),
    reorderPercent: pct(),
    rateBitsPerSecond: rng.chance(0.6) ? 0 : rng.pick([8_000, 1_000_000, 1e9]),
    limitFrames: rng.chance(0.5) ? 0 : rng.range(1, 20),
    down: rng.chance(0.1),
  };
}

async function walk(rng: Rng): Promise<void> {
  const clock = new FakeClock(0);
  const impairment = new ImpairmentExtension({ seed: rng.u32() });
  const sw = new Switch({ timers: clock, extensions: [impairment, new MacLearningForwarder()], nicDrainTimeoutMs: 50, portDrainTimeoutMs: 50 });
  const vms: { portId: number; mac: Uint8Array }[] = [];
  // The switch catches a sink's exceptions: violations are kept here.
  let violation: string | null = null;
  let delivered = 0;
  const check = (where: string): void => {
    if (violation) throw new Error(`${where}: ${violation}`);
    const c = sw.counters();
    if (c.ingressFrames !== c.droppedFrames + c.forwardedFrames + c.heldFrames) throw new Error(`${where}: counters do not add up ${JSON.stringify(c)}`);
    if (c.heldFrames > impairment.queued()) throw new Error(`${where}: ${c.heldFrames} held but only ${impairment.queued()} queued`);
  };
  for (let n = 1; n <= 3; n++) {
    const address = mac(n);
    const port = await sw.createPort({ type: 'synthetic' });
    const portId = port.id;
    await sw.createNic(portId, {
      type: 'synthetic',
      mac: address,
      sink: {
        deliver(frames: readonly Frame[]) {
          delivered += frames.length;
          if (sw.nic(portId, 0)?.state !== 'connected') violation ??= `delivered ${frames.length} to port ${portId} while ${sw.nic(portId, 0)?.state}`;
        },
      },
    });
    await sw.connectNic(portId, 0);
    vms.push({ portId, mac: address });
    sw.ingress(portId, 0, [ethFrame(BROADCAST, address)]);
  }
  const steps = rng.range(5, 40);
  for (let s = 0; s < steps; s++) {
    const vm = rng.pick(vms);
    const nic = sw.nic(vm.portId, 0);
    switch (rng.int(8)) {
      case 0:
      case 1: {
        const update: { send?: Impairment | null; receive?: Impairment | null } = {};
        if (rng.chance(0.7)) update.send = randomImpairment(rng);
        if (rng.chance(0.7)) update.receive = randomImpairment(rng);
        impairment.set(vm.portId, update);
        break;
      }
      case 2:
      case 3: {
        const frames: Frame[] = [];
        for (let k = rng.range(1, 20); k > 0; k--) {
          const dst = rng.chance(0.2) ? BROADCAST : rng.pick(vms).mac;
          frames.push(ethFrame(dst, vm.mac, { length: rng.pick([60, 64, 600, 1514]), seq: s * 100 + k }));
        }
        sw.ingress(vm.portId, 0, frames);
        break;
      }
      case 4:
      case 5:
        clock.advance(rng.pick([0, 1, 3, 10, 100, 1000]));
        break;
      case 6:
        if (nic?.state === 'connected') await sw.disconnectNic(vm.portId, 0);
        else if (nic?.state === 'disconnected') await sw.connectNic(vm.portId, 0);
        break;
      default:
        impairment.clear(vm.portId);
        break;
    }
    check(`step ${s}`);
  }
  for (const vm of vms) impairment.clear(vm.portId);
  clock.runAll();
  check('end');
  const c = sw.counters();
  if (c.heldFrames !== 0 || impairment.queued() !== 0 || clock.pending !== 0) {
    throw new Error(`left over: held ${c.heldFrames}, queued ${impairment.queued()}, timers ${clock.pending}`);
  }
  for (const vm of vms) await sw.stopPort(vm.portId);
  if (delivered === 0) throw new Error('nothing was delivered: the walk tests nothing');
}

export const targets: FuzzTarget[] = [
  {
    name: 'impairment.queue',
    quick: 150,
    run: (rng) => walk(rng),
  },
];
