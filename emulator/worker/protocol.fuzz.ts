// Fuzz target for the switch's side of the VM-thread protocol: a VM thread
// (a guest-driven bug, a hostile client later) can post anything. Whatever it
// posts, VmThread never throws, counts each refusal, and stays usable.
import type { FuzzTarget, Rng } from '../../scripts/fuzz/harness.ts';
import { VmThread } from './vm-thread.ts';
import { FakeThread, OFFLOADS, STARTED } from './testing.ts';

const TYPES = ['started', 'frames', 'ring-wake', 'driver', 'counters', 'console', 'exec-output', 'exec-done', 'exec-failed', 'saved', 'save-failed', 'log', 'ended', 'failed', 'x', ''];

function value(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 6 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.edgy();
    case 2:
      return rng.pick([-1, 0, 1, 0.5, NaN, Infinity, 2 ** 53]);
    case 3:
      return rng.pick(['', 'ready', 'mac', '02:00:00:00:00:01', 'e1000', 'tcp4', 'x'.repeat(rng.int(100))]);
    case 4:
      return rng.bytes(rng.int(80));
    case 5:
      return rng.chance(0.5);
    case 6:
      return Array.from({ length: rng.int(4) }, () => value(rng, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (const key of ['type', 'nic', 'frames', 'event', 'counters', 'data', 'id', 'output', 'exitCode', 'error', 'reason', 'mac', 'csum', 'gso', 'rxOffloads'].filter(() => rng.chance(0.4))) {
        out[key] = key === 'type' ? rng.pick(TYPES) : value(rng, depth + 1);
      }
      return out;
    }
  }
}

function message(rng: Rng): unknown {
  const base = value(rng);
  if (rng.chance(0.7) && base && typeof base === 'object' && !Array.isArray(base)) (base as Record<string, unknown>).type = rng.pick(TYPES);
  if (rng.chance(0.2)) return { type: 'frames', nic: rng.int(3) - 1, frames: [{ data: rng.bytes(rng.int(100)), ...(rng.chance(0.5) ? { gso: value(rng) } : {}) }] };
  if (rng.chance(0.1)) return { type: 'driver', nic: 0, event: { type: rng.pick(['features', 'mac', 'mtu']), rxOffloads: rng.chance(0.5) ? OFFLOADS : value(rng), mac: value(rng), mtu: value(rng) } };
  return base;
}

export const targets: FuzzTarget[] = [
  {
    name: 'worker.protocol.from-vm',
    quick: 300,
    async run(rng) {
      const thread = new FakeThread();
      const starting = VmThread.start(thread, { name: 'f', nics: [{ model: 'e1000' }] });
      if (rng.chance(0.8)) thread.send(STARTED);
      for (let i = 0; i < 20; i++) thread.send(message(rng));
      thread.exit('fuzz');
      await starting.catch(() => undefined);
      const vm = await starting.catch(() => undefined);
      if (vm) {
        const end = await vm.ended;
        if (!['failed', 'stopped', 'poweroff', 'reboot'].includes(end.reason)) throw new Error(`ended with ${end.reason}`);
      }
      if (!thread.terminated) throw new Error('the thread was not terminated');
    },
  },
];
