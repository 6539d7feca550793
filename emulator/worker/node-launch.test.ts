// Real Node worker threads (no guest boots): the thread's bootstrap from
// source, a start that fails in the thread, and a thread out of its heap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startVmThread } from './node-launch.ts';
import { VmThreadStartError } from './vm-thread.ts';
import type { NicModel } from '../net/nic.ts';

test("a VM that cannot start in its thread rejects with the thread's error; this thread goes on", async () => {
  await assert.rejects(
    startVmThread({ name: 'bad', nics: [{ model: 'ne2k' as NicModel }] }),
    (error: Error) => error instanceof VmThreadStartError && /unknown NIC model 'ne2k'/.test(error.message),
  );
});

test('a VM thread that runs out of its heap (resourceLimits) fails that VM with the reason, not the process', async () => {
  await assert.rejects(
    startVmThread({ name: 'oom', nics: [{ model: 'e1000' }], resourceLimits: { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 } }),
    (error: Error) => error instanceof VmThreadStartError && /ERR_WORKER_OUT_OF_MEMORY/.test(error.message),
  );
  assert.ok(process.memoryUsage().heapUsed > 0, 'still here');
});
