import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from './switch.ts';
import type { Extension, IngressBatch } from './extension.ts';
import type { NicInfo } from './nic.ts';
import { attachVm, ethFrame } from './testing.ts';

/** A forwarding extension that sends frame i to handles[i] (the same handle twice is verified once). */
class ScriptedForwarder implements Extension {
  readonly name = 'scripted';
  readonly kind = 'forwarding' as const;
  handles: NicInfo[] = [];
  ingress(batch: IngressBatch): void {
    for (let i = 0; i < batch.count; i++) batch.addDestination(i, this.handles[i]!);
  }
}

test('addDestination refuses a look-alike or stale NIC handle even right after the real one was accepted in the same callback', async () => {
  const forwarder = new ScriptedForwarder();
  const sw = new Switch({ extensions: [forwarder] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  const c = await attachVm(sw, 3);
  const real = sw.nic(b.portId, 0)!;
  const lookAlike = { ...real, portId: real.portId, index: real.index, port: real.port } as NicInfo;
  const frames = [ethFrame(b.mac, a.mac), ethFrame(b.mac, a.mac), ethFrame(b.mac, a.mac)];

  forwarder.handles = [real, real, real];
  sw.ingress(a.portId, 0, frames);
  assert.equal(b.sink.frames.length, 3);

  // The cache is by identity within one callback: a copy of the verified NIC is still looked up, and refused.
  forwarder.handles = [real, lookAlike, real];
  sw.ingress(a.portId, 0, frames);
  assert.equal(b.sink.frames.length, 3);
  assert.equal(sw.counters(a.portId).drops['extension-error:scripted'], 3);

  // A NIC that has left the switch is refused in a later callback, though it was accepted in earlier ones.
  const cNic = sw.nic(c.portId, 0)!;
  await sw.stopPort(c.portId);
  forwarder.handles = [real, cNic];
  sw.ingress(a.portId, 0, frames.slice(0, 2));
  assert.equal(b.sink.frames.length, 3);
  assert.equal(sw.counters(a.portId).drops['extension-error:scripted'], 5);
});
