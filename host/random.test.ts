// A seeded random walk through the switch: ports and NICs created, connected,
// disconnected, deleted, interleaved with traffic, injections, held frames and
// extensions added and removed. After every step: no delivery outside
// "connected", no OID out of order, and the counters add up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../emulator/net/frame.ts';
import { Switch } from './switch.ts';
import type { EgressBatch, Extension, ExtensionContext, HeldFrame, IngressBatch } from './extension.ts';
import type { OidRequest } from './oid.ts';
import { MacLearningForwarder } from './extensions/mac-learning.ts';
import { AclFilter } from './extensions/acl.ts';
import { PortMirror } from './extensions/mirror.ts';
import { PcapngCapture } from './extensions/capture/capture.ts';
import { BROADCAST, OidLifecycleModel, VirtualClock, ethFrame, mac } from './testing.ts';
import { sumValues } from './counters.ts';
import { SWITCH_DROP_REASONS } from './drop-reasons.ts';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Holds some frames and lets them go a little later (so deletes really wait for them). */
class LaterFilter implements Extension {
  readonly name = 'later';
  readonly kind = 'filter' as const;
  context!: ExtensionContext;
  readonly held = new Set<HeldFrame>();
  constructor(private readonly random: () => number) {}
  attach(context: ExtensionContext): void {
    this.context = context;
  }
  ingress(batch: IngressBatch): void {
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i) || batch.firstDestination(i) >= 0 || this.random() > 0.1) continue;
      const held = batch.hold(i);
      this.held.add(held);
      const resume = this.random() < 0.7;
      setImmediate(() => {
        this.held.delete(held);
        if (resume) this.context.resume(held);
        else this.context.dropHeld(held, 'later-dropped');
      });
    }
  }
  heldFrom(portId: number, nicIndex: number): number {
    let n = 0;
    for (const h of this.held) if (h.sourcePortId === portId && h.sourceNicIndex === nicIndex) n++;
    return n;
  }
}

/**
 * Leaves out, on egress, the copies of even-length frames to ports whose id is
 * a multiple of 3 (nothing else in the walk excludes a copy: forwarding and
 * flood only pick connected NICs), counting what it excluded.
 */
class Excluder implements Extension {
  readonly name = 'excluder';
  readonly kind = 'filter' as const;
  excluded = 0;
  egress(batch: EgressBatch): void {
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i) || batch.frame(i).data.length % 2) continue;
      for (let slot = batch.firstDestination(i); slot >= 0; slot = batch.nextDestination(slot)) {
        if (batch.destination(slot).portId % 3 === 0 && batch.excluded(slot) === null) {
          batch.exclude(slot, 'excluder');
          this.excluded++;
        }
      }
    }
  }
}

/** Checks, as each OID reaches the bottom of the stack, that the lifecycle order holds and NIC_DELETE comes after the drain. */
class OrderChecker implements Extension {
  readonly name = 'order';
  readonly kind = 'capture' as const;
  readonly violations: string[] = [];
  constructor(private readonly later: LaterFilter) {}
  oidRequest(request: OidRequest): void {
    if (request.oid === 'OID_SWITCH_NIC_DELETE') {
      const n = this.later.heldFrom(request.nic.portId, request.nic.index);
      if (n) this.violations.push(`NIC_DELETE of ${request.nic.portId}/${request.nic.index} with ${n} frames held`);
    }
  }
}

/** Originates frames (a filter may also name the destination). */
class Originator implements Extension {
  readonly name = 'originator';
  readonly kind = 'filter' as const;
  context!: ExtensionContext;
  attach(context: ExtensionContext): void {
    this.context = context;
  }
}


/** The reasons given only to a destination copy left out: the switch's own and the Excluder's. */
const EXCLUSION_REASONS = [SWITCH_DROP_REASONS.destinationNotConnected, SWITCH_DROP_REASONS.destinationIsSource, SWITCH_DROP_REASONS.vlanMismatch, 'excluder'];

function exclusions(drops: Readonly<Record<string, number>>): number {
  return EXCLUSION_REASONS.reduce((sum, reason) => sum + (drops[reason] ?? 0), 0);
}

/**
 * Far above any real drain (held frames go within a few event-loop turns) so a
 * loaded machine cannot make one time out; a drain that really hangs still
 * fails the walk (the 'timeout' event is counted), only later.
 */
const DRAIN_TIMEOUT_MS = 60_000;

test('seeded random test: 10,000+ operations keep delivery, OID order and counters right', async () => {
  const random = mulberry32(0x5eed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const clock = new VirtualClock();
  const forwarder = new MacLearningForwarder({ agingMs: 2000, maxEntries: 16 });
  const later = new LaterFilter(random);
  const order = new OrderChecker(later);
  const originator = new Originator();
  const excluder = new Excluder();
  const sw = new Switch({ clock: clock.now, extensions: [order, originator, excluder, forwarder], nicDrainTimeoutMs: DRAIN_TIMEOUT_MS });

  let delivered = 0;
  let framesIn = 0;
  let dropEventTotal = 0;
  let timeouts = 0;
  sw.on('drop', (e) => (dropEventTotal += e.count));
  sw.on('timeout', () => timeouts++);

  // Our model of every port and NIC, driven only by successful OID events.
  const lifecycle = new OidLifecycleModel(sw);
  const ports = lifecycle.ports;
  const violations: string[] = [];
  const allViolations = () => [...violations, ...order.violations, ...lifecycle.violations];

  const sinkFor = (portId: number) => ({
    deliver(frames: readonly Frame[]) {
      const state = sw.nic(portId, 0)?.state;
      if (state !== 'connected') violations.push(`delivery to port ${portId} NIC in state ${state}`);
      const model = ports.get(portId);
      if (model?.nic !== 'connected') violations.push(`delivery to port ${portId} whose model NIC is ${model?.nic}`);
      delivered += frames.length;
    },
  });

  let seq = 0;
  const frameFrom = (srcMac: Uint8Array): Frame => {
    const r = random();
    const known = [...ports.keys()];
    if (r < 0.02) return { data: new Uint8Array(Math.floor(random() * 14)) };
    if (r < 0.04) return ethFrame(BROADCAST, srcMac, { length: 1515 + Math.floor(random() * 100) });
    if (r < 0.06) return ethFrame(BROADCAST, srcMac, { vlan: 0xfff });
    if (r < 0.09) return ethFrame(BROADCAST, srcMac, { ethertype: 0x88b5, seq: seq++ });
    if (r < 0.25) return ethFrame(BROADCAST, srcMac, { seq: seq++ });
    if (r < 0.3) return ethFrame(mac(0x7000 + Math.floor(random() * 50)), srcMac, { seq: seq++ });
    const dst = known.length ? mac(pick(known)) : BROADCAST;
    return ethFrame(dst, srcMac, { seq: seq++, length: 60 + Math.floor(random() * 1400) });
  };

  let capture: PcapngCapture | null = null;
  let acl: AclFilter | null = null;
  let mirror: PortMirror | null = null;
  let laterOn = false;
  const STEPS = 10_000;
  const opCounts: Record<string, number> = {};

  const check = (step: number, op: string) => {
    const c = sw.counters();
    const where = `step ${step} (${op})`;
    assert.deepEqual(allViolations(), [], where);
    assert.equal(c.ingressFrames, c.droppedFrames + c.forwardedFrames + c.heldFrames, `${where}: every frame dropped, forwarded or held`);
    assert.equal(c.heldFrames, later.held.size, `${where}: held frames`);
    assert.equal(c.deliveredCopies, delivered, `${where}: copies delivered = copies the sinks got`);
    assert.equal(sumValues(c.drops), c.droppedFrames + c.excludedCopies, `${where}: every drop has a reason`);
    assert.equal(c.excludedCopies, exclusions(c.drops), `${where}: every excluded copy has an exclusion reason, and only those`);
    assert.equal(c.drops['excluder'] ?? 0, excluder.excluded, `${where}: each exclusion counted once`);
    assert.equal(dropEventTotal, sumValues(c.drops), `${where}: every drop was an event`);
    assert.equal(c.ingressFrames, framesIn + c.injectedFrames, `${where}: nothing entered unseen`);
    for (const snapshot of sw.ports()) {
      const model = ports.get(snapshot.id);
      assert.ok(model, `${where}: port ${snapshot.id} unknown to the model`);
      assert.equal(snapshot.nics[0]?.state ?? null, model.nic, `${where}: port ${snapshot.id} NIC state`);
    }
  };

  for (let step = 0; step < STEPS; step++) {
    clock.advance(Math.floor(random() * 50));
    const portIds = [...ports.keys()];
    const r = random();
    let op: string;
    try {
      if (r < 0.08 && ports.size < 12) {
        op = 'create-port';
        await sw.createPort({ type: pick(['synthetic', 'emulated', 'generic'] as const) });
      } else if (r < 0.16) {
        op = 'create-nic';
        const free = portIds.filter((id) => ports.get(id)!.state === 'created' && ports.get(id)!.nic === null);
        if (free.length) {
          const id = pick(free);
          await sw.createNic(id, { type: 'synthetic', mac: mac(id), sink: sinkFor(id) });
        }
      } else if (r < 0.24) {
        op = 'connect';
        const ids = portIds.filter((id) => ['created', 'disconnected'].includes(ports.get(id)!.nic ?? ''));
        if (ids.length) await sw.connectNic(pick(ids), 0);
      } else if (r < 0.28) {
        op = 'disconnect';
        const ids = portIds.filter((id) => ports.get(id)!.nic === 'connected');
        if (ids.length) await sw.disconnectNic(pick(ids), 0);
      } else if (r < 0.31) {
        op = 'delete-nic';
        const ids = portIds.filter((id) => ['created', 'disconnected'].includes(ports.get(id)!.nic ?? ''));
        if (ids.length) await sw.deleteNic(pick(ids), 0);
      } else if (r < 0.34) {
        op = 'stop-port';
        if (portIds.length) await sw.stopPort(pick(portIds));
      } else if (r < 0.36) {
        op = 'update-nic';
        const ids = portIds.filter((id) => ports.get(id)!.nic !== null);
        if (ids.length) await sw.updateNic(pick(ids), 0, { mtu: pick([1500, 9000]) });
      } else if (r < 0.4) {
        op = 'toggle-extension';
        const which = Math.floor(random() * 5);
        if (which === 0) {
          if (capture) sw.removeExtension(capture.name), (capture = null);
          else sw.addExtension((capture = new PcapngCapture({ name: 'cap' })));
        } else if (which === 1) {
          if (acl) sw.removeExtension(acl.name), (acl = null);
          else sw.addExtension((acl = new AclFilter({ rules: [{ name: 'no-88b5', action: 'deny', ethertype: 0x88b5 }] })), Math.floor(random() * 3));
        } else if (which === 2) {
          if (mirror) sw.removeExtension(mirror.name), (mirror = null);
          else if (portIds.length) {
            sw.addExtension((mirror = new PortMirror({ sessions: [{ sourcePorts: [pick(portIds)], to: { portId: pick(portIds), nicIndex: 0 } }] })));
          }
        } else if (which === 3) {
          if (laterOn) sw.removeExtension(later.name);
          else sw.addExtension(later, 0);
          laterOn = !laterOn;
        } else {
          if (sw.extension(forwarder.name)) sw.removeExtension(forwarder.name);
          else sw.addExtension(forwarder);
        }
      } else if (r < 0.43) {
        op = 'inject';
        const target = portIds.length ? pick(portIds) : 1;
        const before = sw.counters().injectedFrames;
        const named = random() < 0.8;
        const ref = { portId: target, nicIndex: 0 };
        const result = originator.context.inject(
          [ethFrame(BROADCAST, named ? mac(target) : mac(0x6666), { seq: seq++ })],
          !named ? {} : random() < 0.5 ? { destination: ref } : { source: ref },
        );
        // Accepted exactly when the named NIC is connected.
        assert.equal(result.accepted, !named || ports.get(target)?.nic === 'connected', `inject naming port ${target}`);
        if (!result.accepted) assert.equal(sw.counters().injectedFrames, before);
      } else if (r < 0.45) {
        op = 'wait';
        await new Promise<void>((resolve) => setImmediate(resolve));
      } else {
        op = 'traffic';
        const id = portIds.length && random() < 0.97 ? pick(portIds) : 999;
        const srcMac = ports.has(id) ? mac(id) : mac(999);
        const batch: Frame[] = [];
        const n = 1 + Math.floor(random() * (random() < 0.5 ? 4 : 32));
        for (let k = 0; k < n; k++) batch.push(frameFrom(random() < 0.03 ? mac(0x5000 + k) : srcMac));
        framesIn += n;
        sw.ingress(id, 0, batch);
      }
    } catch (error) {
      // The walk only asks for legal steps; a capture capability error from 'order' would be a bug too.
      throw new Error(`step ${step}: ${error instanceof Error ? error.stack : String(error)}`);
    }
    opCounts[op] = (opCounts[op] ?? 0) + 1;
    check(step, op);
  }
  // Let held frames go (each is let go on the next turn: wait until none is left), then everything still adds up.
  for (let turns = 0; later.held.size > 0 && turns < 1000; turns++) await new Promise<void>((resolve) => setImmediate(resolve));
  check(STEPS, 'final');
  assert.equal(sw.counters().heldFrames, 0);
  assert.equal(timeouts, 0, 'no drain wait timed out');
  const c = sw.counters();
  if (process.env.VMSWITCH_VERBOSE) console.log(JSON.stringify({ opCounts, counters: c }));
  // The walk really exercised things (not a test that cannot fail for lack of traffic).
  assert.ok(c.deliveredCopies > 10_000, `delivered ${c.deliveredCopies}`);
  assert.ok(c.droppedFrames > 1000, `dropped ${c.droppedFrames}`);
  assert.ok(excluder.excluded > 1000, `excluded ${excluder.excluded} copies`);
  assert.ok((opCounts['stop-port'] ?? 0) > 100 && (opCounts['toggle-extension'] ?? 0) > 100, JSON.stringify(opCounts));
  assert.ok(c.drops['later-dropped']! > 0 && c.drops['acl:no-88b5']! > 0 && c.drops['runt']! > 0, JSON.stringify(c.drops));
});
