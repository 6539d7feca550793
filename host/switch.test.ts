import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from './switch.ts';
import { OidError } from './oid.ts';
import type { OidName } from './oid.ts';
import type { OidEvent, StateEvent, DropEvent, TimeoutEvent, ErrorEvent } from './events.ts';
import type { Extension, ExtensionContext, HeldFrame, IngressBatch } from './extension.ts';
import { MacLearningForwarder } from './extensions/mac-learning.ts';
import { BROADCAST, RecordingExtension, RecordingSink, attachVm, ethFrame, mac } from './testing.ts';
import type { LoggedCall } from './testing.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function stackOfThree(log: LoggedCall[]) {
  const capture = new RecordingExtension('cap', 'capture', log);
  const filter = new RecordingExtension('filt', 'filter', log);
  const forwarding = new RecordingExtension('fwd', 'forwarding', log);
  return [capture, filter, forwarding] as const;
}

function recordOids(sw: Switch): OidEvent[] {
  const events: OidEvent[] = [];
  sw.on('oid', (e) => events.push(e));
  return events;
}

test('VM start and stop run the seed lifecycle in order, each OID down the stack and completed back up', async () => {
  const log: LoggedCall[] = [];
  const sw = new Switch({ extensions: [...stackOfThree(log)] });
  const oids = recordOids(sw);
  const states: StateEvent[] = [];
  sw.on('state', (e) => states.push(e));
  const port = await sw.createPort({ type: 'emulated' });
  assert.ok(port.id > 0);
  await sw.createNic(port.id, { type: 'emulated', mac: mac(1), sink: new RecordingSink() });
  await sw.connectNic(port.id, 0);
  await sw.stopPort(port.id);

  const expected: OidName[] = [
    'OID_SWITCH_PORT_CREATE',
    'OID_SWITCH_NIC_CREATE',
    'OID_SWITCH_NIC_CONNECT',
    'OID_SWITCH_NIC_DISCONNECT',
    'OID_SWITCH_NIC_DELETE',
    'OID_SWITCH_PORT_TEARDOWN',
    'OID_SWITCH_PORT_DELETE',
  ];
  assert.deepEqual(oids.map((e) => e.oid), expected);
  assert.ok(oids.every((e) => e.status === 'success' && e.portId === port.id));
  assert.deepEqual(oids.map((e) => e.nicIndex), [undefined, 0, 0, 0, 0, undefined, undefined]);
  // Each OID: down cap -> filt -> fwd, then completion fwd -> filt -> cap.
  const perOid = expected.flatMap((oid) => [
    `cap request ${oid}`, `filt request ${oid}`, `fwd request ${oid}`,
    `fwd complete ${oid}`, `filt complete ${oid}`, `cap complete ${oid}`,
  ]);
  assert.deepEqual(log.map((c) => `${c.extension} ${c.phase} ${c.oid}`), perOid);
  assert.deepEqual(
    states.map((s) => `${s.object} ${s.from}->${s.to}`),
    ['port null->created', 'nic null->created', 'nic created->connected', 'nic connected->disconnected', 'nic disconnected->deleted', 'port created->teardown', 'port teardown->deleted'],
  );
  assert.equal(sw.ports().length, 0);
});

for (const oid of ['OID_SWITCH_PORT_CREATE', 'OID_SWITCH_NIC_CREATE', 'OID_SWITCH_PORT_PROPERTY_ADD'] as const) {
  for (let position = 0; position < 3; position++) {
    test(`${oid} vetoed at stack position ${position}: stops there, extensions above undo, nothing is created`, async () => {
      const log: LoggedCall[] = [];
      const stack = stackOfThree(log);
      const sw = new Switch({ extensions: [...stack] });
      const oids = recordOids(sw);
      let portId = 7;
      if (oid !== 'OID_SWITCH_PORT_CREATE') {
        portId = (await sw.createPort({ type: 'synthetic', id: 7 })).id;
      }
      log.length = 0;
      stack[position]!.vetoes.add(oid);
      const attempt =
        oid === 'OID_SWITCH_PORT_CREATE'
          ? sw.createPort({ type: 'synthetic', id: 7 })
          : oid === 'OID_SWITCH_NIC_CREATE'
            ? sw.createNic(portId, { type: 'synthetic', mac: mac(1), sink: new RecordingSink() })
            : sw.addPortProperty(portId, { type: 'custom', name: 'x', value: 1 });
      await assert.rejects(attempt, (error: unknown) => error instanceof OidError && error.status === 'vetoed' && error.vetoedBy === stack[position]!.name);
      const event = oids.at(-1)!;
      assert.equal(event.oid, oid);
      assert.equal(event.status, 'vetoed');
      assert.equal(event.vetoedBy, stack[position]!.name);
      // Down to the vetoer, back up from the one above it with the veto as status.
      const want: string[] = [];
      for (let i = 0; i <= position; i++) want.push(`${stack[i]!.name} request`);
      for (let i = position - 1; i >= 0; i--) want.push(`${stack[i]!.name} complete vetoed`);
      assert.deepEqual(log.map((c) => `${c.extension} ${c.phase}${c.status ? ` ${c.status}` : ''}`), want);
      // Undo: no extension still believes in the object.
      for (const ext of stack) assert.equal(ext.believed.size, oid === 'OID_SWITCH_PORT_CREATE' ? 0 : ext.believed.has('port:7') ? 1 : 0);
      if (oid === 'OID_SWITCH_PORT_CREATE') assert.equal(sw.port(7), undefined);
      if (oid === 'OID_SWITCH_NIC_CREATE') assert.deepEqual(sw.ports()[0]!.nics, []);
      if (oid === 'OID_SWITCH_PORT_PROPERTY_ADD') assert.deepEqual(sw.ports()[0]!.properties, []);
      // Without the veto it goes through.
      stack[position]!.vetoes.clear();
      if (oid === 'OID_SWITCH_PORT_CREATE') await sw.createPort({ type: 'synthetic', id: 7 });
      else if (oid === 'OID_SWITCH_NIC_CREATE') await sw.createNic(portId, { type: 'synthetic', mac: mac(1), sink: new RecordingSink() });
      else await sw.addPortProperty(portId, { type: 'custom', name: 'x', value: 1 });
      assert.equal(oids.at(-1)!.status, 'success');
    });
  }
}

test('a veto is ignored (and reported) where the table allows none', async () => {
  const log: LoggedCall[] = [];
  const [cap, filt, fwd] = stackOfThree(log);
  filt.vetoes.add('OID_SWITCH_NIC_CONNECT');
  const sw = new Switch({ extensions: [cap, filt, fwd] });
  const oids = recordOids(sw);
  const vm = await attachVm(sw, 1);
  const event = oids.find((e) => e.oid === 'OID_SWITCH_NIC_CONNECT')!;
  assert.equal(event.status, 'success');
  assert.match(event.errors![0]!.message, /veto not allowed/);
  assert.equal(sw.nic(vm.portId, 0)!.state, 'connected');
});

test('state table: NIC OIDs need a live port and the right NIC state; no frames to or from a NIC that is not connected', async () => {
  const sw = new Switch();
  const drops: DropEvent[] = [];
  sw.on('drop', (e) => drops.push(e));
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2, { connect: false });
  await assert.rejects(sw.disconnectNic(b.portId, 0), /is created, not connected/);
  await assert.rejects(sw.deleteNic(a.portId, 0), /is connected/);
  await assert.rejects(sw.teardownPort(a.portId), /delete its NICs/);
  await assert.rejects(sw.createNic(a.portId, { type: 'synthetic', mac: mac(9), sink: new RecordingSink() }), /already has NIC 0/);

  // b is created, not connected: a broadcast from a does not reach it, b's own frames are dropped.
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  sw.ingress(b.portId, 0, [ethFrame(a.mac, b.mac)]);
  assert.equal(b.sink.frames.length, 0);
  assert.equal(a.sink.frames.length, 0);
  assert.equal(sw.counters(b.portId).drops['nic-not-connected'], 1);
  assert.deepEqual(drops.map((d) => [d.portId, d.reason]), [[a.portId, 'no-destination'], [b.portId, 'nic-not-connected']]);

  await sw.connectNic(b.portId, 0);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  assert.equal(b.sink.frames.length, 1);
  await sw.disconnectNic(b.portId, 0);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  assert.equal(b.sink.frames.length, 1);
  await sw.connectNic(b.portId, 0); // reconnect is allowed
  await sw.disconnectNic(b.portId, 0);
  await sw.deleteNic(b.portId, 0);
  await assert.rejects(sw.connectNic(b.portId, 0), /has no NIC 0/);
  await sw.teardownPort(b.portId);
  // A port tearing down takes no NIC OIDs and no property OIDs.
  await assert.rejects(sw.createNic(b.portId, { type: 'synthetic', mac: mac(3), sink: new RecordingSink() }), /is teardown/);
  await assert.rejects(sw.addPortProperty(b.portId, { type: 'custom', name: 'x', value: 1 }), /is teardown/);
  await sw.deletePort(b.portId);
  assert.throws(() => sw.counters(b.portId), /no port/);
  sw.ingress(b.portId, 0, [ethFrame(a.mac, b.mac)]);
  assert.equal(sw.counters().drops['unknown-nic'], 1);
});

class Injector implements Extension {
  context!: ExtensionContext;
  constructor(readonly name: string, readonly kind: 'capture' | 'filter' | 'forwarding') {}
  attach(context: ExtensionContext): void {
    this.context = context;
  }
}

test('state table: an extension inject to or from a NIC that is not connected is refused; references only while connected', async () => {
  const injector = new Injector('inj', 'filter');
  const sw = new Switch({ extensions: [injector, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2, { connect: false });
  const frame = ethFrame(b.mac, mac(0x99));
  assert.deepEqual(injector.context.inject([frame], { destination: { portId: b.portId, nicIndex: 0 } }), {
    accepted: false,
    reason: 'inject-destination-not-connected',
  });
  assert.deepEqual(injector.context.inject([frame], { source: { portId: b.portId, nicIndex: 0 } }), {
    accepted: false,
    reason: 'inject-source-not-connected',
  });
  assert.throws(() => injector.context.referenceNic(b.portId, 0), /not connected/);
  assert.equal(b.sink.frames.length, 0);
  assert.equal(sw.counters().refusedInjections['inject-destination-not-connected'], 1);

  await sw.connectNic(b.portId, 0);
  assert.deepEqual(injector.context.inject([frame], { destination: { portId: b.portId, nicIndex: 0 } }), { accepted: true });
  assert.equal(b.sink.frames.length, 1);
  assert.equal(a.sink.frames.length, 0);
  // Without a destination, an originated frame (port 0) is forwarded like any other: unknown unicast floods.
  assert.deepEqual(injector.context.inject([ethFrame(mac(0x77), mac(0x99))]), { accepted: true });
  assert.equal(a.sink.frames.length, 1);
  assert.equal(b.sink.frames.length, 2);
  const counters = sw.counters();
  assert.equal(counters.injectedFrames, 2);

  // A capture extension may originate but not choose destinations.
  const capture = new Injector('cap', 'capture');
  sw.addExtension(capture);
  assert.equal(capture.context.inject([frame], { destination: { portId: b.portId, nicIndex: 0 } }).accepted, false);
});

/** A filter that holds every frame from one port until told. */
class Holder implements Extension {
  readonly kind = 'filter' as const;
  readonly name = 'holder';
  context!: ExtensionContext;
  held: HeldFrame[] = [];
  constructor(private readonly fromPort: number) {}
  attach(context: ExtensionContext): void {
    this.context = context;
  }
  ingress(batch: IngressBatch): void {
    for (let i = 0; i < batch.count; i++) if (batch.sourcePortId(i) === this.fromPort && !batch.isDropped(i)) this.held.push(batch.hold(i));
  }
}

test('NIC_DELETE waits for frames in flight on the NIC', async () => {
  const holder = new Holder(1);
  const sw = new Switch({ extensions: [holder, new MacLearningForwarder()] });
  const oids = recordOids(sw);
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  assert.equal(a.portId, 1);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac, { seq: 1 }), ethFrame(BROADCAST, a.mac, { seq: 2 })]);
  assert.equal(holder.held.length, 2);
  assert.equal(sw.counters().heldFrames, 2);
  await sw.disconnectNic(a.portId, 0);
  let deleted = false;
  const deleting = sw.deleteNic(a.portId, 0).then(() => (deleted = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(deleted, false);
  assert.ok(!oids.some((e) => e.oid === 'OID_SWITCH_NIC_DELETE'));
  holder.context.resume(holder.held[0]!);
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(deleted, false, 'one frame still held');
  holder.context.dropHeld(holder.held[1]!, 'test-drop');
  await deleting;
  assert.equal(oids.at(-1)!.oid, 'OID_SWITCH_NIC_DELETE');
  assert.equal(b.sink.frames.length, 1);
  const c = sw.counters();
  assert.equal(c.heldFrames, 0);
  assert.equal(c.ingressFrames, c.droppedFrames + c.forwardedFrames);
  assert.equal(sw.counters(a.portId).drops['test-drop'], 1);
});

test('NIC_DELETE waits for OIDs in flight on the NIC', async () => {
  const log: LoggedCall[] = [];
  const slow = new RecordingExtension('slow', 'filter', log);
  const sw = new Switch({ extensions: [slow, new MacLearningForwarder()] });
  const oids = recordOids(sw);
  const a = await attachVm(sw, 1, { connect: false });
  let release!: () => void;
  slow.pendUntil = new Promise((resolve) => (release = resolve));
  const updating = sw.updateNic(a.portId, 0, { mtu: 9000 });
  let deleted = false;
  const deleting = sw.deleteNic(a.portId, 0).then(() => (deleted = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(deleted, false);
  slow.pendUntil = null;
  release();
  await updating;
  await deleting;
  assert.deepEqual(oids.slice(-2).map((e) => e.oid), ['OID_SWITCH_NIC_UPDATED', 'OID_SWITCH_NIC_DELETE']);
});

test('the drain wait is bounded: a timeout event, then the delete goes on', async () => {
  const holder = new Holder(1);
  const sw = new Switch({ extensions: [holder, new MacLearningForwarder()], nicDrainTimeoutMs: 20 });
  const timeouts: TimeoutEvent[] = [];
  sw.on('timeout', (e) => timeouts.push(e));
  const a = await attachVm(sw, 1);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac)]);
  await sw.stopPort(a.portId);
  assert.equal(timeouts.length, 1);
  assert.deepEqual({ ...timeouts[0], time: 0 }, { time: 0, wait: 'nic-drain', portId: a.portId, nicIndex: 0, references: 1, timeoutMs: 20 });
  assert.equal(sw.ports().length, 0);
  // The late frame is still accounted for when it finally moves.
  holder.context.resume(holder.held[0]!);
  const c = sw.counters();
  assert.equal(c.ingressFrames, c.droppedFrames + c.forwardedFrames);
  assert.equal(c.drops['no-destination'], 1);
});

test('an extension that throws is isolated: its frames or OID fail with a clear error, the switch goes on', async () => {
  let throwOnIngress = true;
  let throwOnNicCreate = true;
  const bad: Extension = {
    name: 'bad',
    kind: 'filter',
    ingress() {
      if (throwOnIngress) throw new Error('boom');
    },
    oidRequest(request) {
      if (request.oid === 'OID_SWITCH_NIC_CREATE' && throwOnNicCreate) throw new Error('nic boom');
      if (request.oid === 'OID_SWITCH_NIC_DELETE') throw new Error('delete boom');
    },
  };
  const badCapture: Extension = {
    name: 'badcap',
    kind: 'capture',
    ingress(batch) {
      (batch as IngressBatch).drop(0, 'capture tries to drop');
    },
  };
  const sw = new Switch({ extensions: [badCapture, new MacLearningForwarder()] });
  const errors: ErrorEvent[] = [];
  sw.on('error', (e) => errors.push(e));
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  // The capture's illegal drop is refused and counted; the frame still goes through.
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac)]);
  assert.equal(b.sink.frames.length, 1);
  assert.match(errors[0]!.message, /badcap \(capture\) may not drop/);

  sw.addExtension(bad);
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac), ethFrame(b.mac, a.mac)]);
  assert.equal(b.sink.frames.length, 1);
  assert.equal(sw.counters(a.portId).drops['extension-error:bad'], 2);
  assert.equal(sw.counters().extensionErrors['bad'], 1);
  assert.ok(errors.some((e) => e.extension === 'bad' && e.phase === 'ingress' && e.message === 'boom'));

  const port = await sw.createPort({ type: 'synthetic' });
  await assert.rejects(
    sw.createNic(port.id, { type: 'synthetic', mac: mac(3), sink: new RecordingSink() }),
    (e: unknown) => e instanceof OidError && e.status === 'failed' && e.vetoedBy === 'bad' && /nic boom/.test(e.message),
  );
  // A throw in a non-vetoable OID cannot stop it.
  await sw.stopPort(a.portId);
  assert.equal(sw.port(a.portId), undefined);

  throwOnIngress = false;
  throwOnNicCreate = false;
  sw.removeExtension('badcap');
  const c = await attachVm(sw, 4);
  sw.ingress(c.portId, 0, [ethFrame(b.mac, c.mac)]);
  assert.equal(b.sink.frames.length, 2);
});

test('only the forwarding extension adds destinations; at most one forwarding extension', async () => {
  const sneaky: Extension = {
    name: 'sneaky',
    kind: 'filter',
    ingress(batch) {
      const nic = (batch as IngressBatch).source(0)!;
      batch.addDestination(0, nic);
    },
  };
  const sw = new Switch({ extensions: [sneaky, new MacLearningForwarder()] });
  assert.throws(() => sw.addExtension(new MacLearningForwarder({ name: 'second' })), /at most one forwarding/);
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac)]);
  assert.equal(b.sink.frames.length, 0);
  assert.equal(sw.counters(a.portId).drops['extension-error:sneaky'], 1);
});

test('capture and filter extensions are added, removed and reordered at run time', async () => {
  const log: LoggedCall[] = [];
  const sw = new Switch();
  sw.addExtension(new RecordingExtension('f1', 'filter', log));
  sw.addExtension(new RecordingExtension('c1', 'capture', log));
  sw.addExtension(new RecordingExtension('f2', 'filter', log), 0);
  assert.deepEqual(sw.extensions().map((e) => e.name), ['c1', 'f2', 'f1', 'mac-learning']);
  sw.reorderExtensions('filter', ['f1', 'f2']);
  assert.deepEqual(sw.extensions().map((e) => e.name), ['c1', 'f1', 'f2', 'mac-learning']);
  assert.throws(() => sw.reorderExtensions('filter', ['f1']), /permutation/);
  await sw.createPort({ type: 'generic' });
  assert.deepEqual(log.filter((c) => c.phase === 'request').map((c) => c.extension), ['c1', 'f1', 'f2']);
  sw.removeExtension('f1');
  assert.deepEqual(sw.extensions().map((e) => e.name), ['c1', 'f2', 'mac-learning']);
});

test('frame validation at the port: runts, oversize, malformed VLAN tags and offloads are dropped by reason, never thrown', async () => {
  const sw = new Switch();
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  const ok = ethFrame(b.mac, a.mac, { length: 1514 });
  const tooBig = ethFrame(b.mac, a.mac, { length: 1515 });
  const runt = { data: new Uint8Array(13) };
  const shortTag = { data: Uint8Array.of(...b.mac, ...a.mac, 0x81, 0x00, 0x00) };
  const reservedVid = ethFrame(b.mac, a.mac, { vlan: 0xfff });
  const gsoOk = { data: new Uint8Array(20000), gso: { type: 'tcp4' as const, segmentSize: 1460, headerLength: 54 }, csum: { start: 34, offset: 16 } };
  gsoOk.data.set(b.mac, 0);
  gsoOk.data.set(a.mac, 6);
  gsoOk.data[12] = 0x08;
  const gsoTooBig = { ...gsoOk, gso: { ...gsoOk.gso, segmentSize: 1500 } };
  const badCsum = { data: ok.data, csum: { start: 2000, offset: 6 } };
  sw.ingress(a.portId, 0, [ok, tooBig, runt, shortTag, reservedVid, gsoOk, gsoTooBig, badCsum, null as never]);
  assert.equal(b.sink.frames.length, 2);
  assert.equal(b.sink.frames[1]!.gso?.segmentSize, 1460, 'offload metadata passes untouched');
  assert.deepEqual(sw.counters(a.portId).drops, { oversize: 2, runt: 1, 'malformed-vlan-tag': 2, 'malformed-offload': 1, 'not-a-frame': 1 });
  const c = sw.counters(a.portId);
  assert.equal(c.rxPackets, 9);
  assert.equal(sw.counters(b.portId).txPackets, 2);
  assert.equal(sw.counters(b.portId).txBytes, 1514 + 20000);
  // Bigger MTU, bigger frames.
  await sw.updateNic(a.portId, 0, { mtu: 9000 });
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac, { length: 9014 })]);
  assert.equal(b.sink.frames.length, 3);
});

test('the MAC spoofing guard of the security property drops frames with a foreign source MAC', async () => {
  const sw = new Switch();
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  await sw.addPortProperty(a.portId, { type: 'security', allowMacSpoofing: false });
  sw.ingress(a.portId, 0, [ethFrame(b.mac, mac(0x55)), ethFrame(b.mac, a.mac)]);
  assert.equal(b.sink.frames.length, 1);
  assert.equal(sw.counters(a.portId).drops['mac-spoofing'], 1);
  await sw.deletePortProperty(a.portId, { type: 'security', allowMacSpoofing: false });
  sw.ingress(a.portId, 0, [ethFrame(b.mac, mac(0x55))]);
  assert.equal(b.sink.frames.length, 2);
});

test('NIC_SAVE and NIC_RESTORE carry each extension\'s per-NIC state; a failing restore fails it', async () => {
  const state = new Map<string, number>();
  const saver: Extension = {
    name: 'saver',
    kind: 'filter',
    oidRequest(request) {
      if (request.oid === 'OID_SWITCH_NIC_SAVE') request.saved['saver'] = { packets: state.get('x') ?? 0 };
      if (request.oid === 'OID_SWITCH_NIC_RESTORE') {
        const saved = request.saved['saver'] as { packets: number } | undefined;
        if (!saved) return { veto: 'nothing saved for saver' };
        state.set('x', saved.packets);
      }
    },
  };
  const sw = new Switch({ extensions: [saver, new MacLearningForwarder()] });
  const oids = recordOids(sw);
  const a = await attachVm(sw, 1);
  state.set('x', 42);
  const saved = await sw.saveNic(a.portId, 0);
  assert.deepEqual(saved, { extensions: { saver: { packets: 42 } } });
  state.clear();
  const b = await attachVm(sw, 2, { connect: false });
  await sw.restoreNic(b.portId, 0, saved);
  assert.equal(state.get('x'), 42);
  await assert.rejects(sw.restoreNic(b.portId, 0, { extensions: {} }), /nothing saved/);
  assert.deepEqual(
    oids.filter((e) => /SAVE|RESTORE/.test(e.oid)).map((e) => `${e.oid} ${e.status}`),
    [
      'OID_SWITCH_NIC_SAVE success',
      'OID_SWITCH_NIC_SAVE_COMPLETE success',
      'OID_SWITCH_NIC_RESTORE success',
      'OID_SWITCH_NIC_RESTORE_COMPLETE success',
      'OID_SWITCH_NIC_RESTORE vetoed',
    ],
  );
});

test('queries: PARAMETERS, PORT_ARRAY and NIC_ARRAY describe the switch to an extension added late', async () => {
  const sw = new Switch({ name: 'lab' });
  const a = await attachVm(sw, 1);
  const late = new Injector('late', 'filter');
  sw.addExtension(late);
  assert.equal(late.context.query('OID_SWITCH_PARAMETERS').name, 'lab');
  assert.deepEqual(late.context.query('OID_SWITCH_PORT_ARRAY').map((p) => p.id), [a.portId]);
  const nics = late.context.query('OID_SWITCH_NIC_ARRAY');
  assert.deepEqual(nics.map((n) => [n.portId, n.index, n.state, n.mac]), [[a.portId, 0, 'connected', '02:00:00:00:00:01']]);
});

test('bad API input is a clear error, not a half-made object', async () => {
  const sw = new Switch();
  await assert.rejects(sw.createPort({ type: 'bogus' as never }), /type must be one of/);
  await assert.rejects(sw.createPort({ type: 'generic', id: 0 }), /must be an integer > 0/);
  const port = await sw.createPort({ type: 'generic' });
  await assert.rejects(sw.createNic(port.id, { type: 'synthetic', mac: new Uint8Array(3), sink: new RecordingSink() }), /mac must be 6 bytes/);
  await assert.rejects(sw.createNic(port.id, { type: 'synthetic', mac: mac(1), mtu: 10, sink: new RecordingSink() }), /MTU/);
  await sw.createNic(port.id, { type: 'external', mac: mac(1), sink: new RecordingSink() });
  const other = await sw.createPort({ type: 'external' });
  await assert.rejects(sw.createNic(other.id, { type: 'external', mac: mac(2), sink: new RecordingSink() }), /already has an external NIC/);
  assert.equal(sw.ports().find((p) => p.id === other.id)!.nics.length, 0);
});

test('egress: a filter excludes a destination (final, counted on that port); the other copies are delivered', async () => {
  const excluder: Extension = {
    name: 'excluder',
    kind: 'filter',
    egress(batch) {
      for (let i = 0; i < batch.count; i++) {
        for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
          if (batch.destination(d).portId === 2) batch.exclude(d, 'no-port-2');
        }
      }
    },
  };
  const sw = new Switch({ extensions: [excluder, new MacLearningForwarder()] });
  const drops: DropEvent[] = [];
  sw.on('drop', (e) => drops.push(e));
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  const c = await attachVm(sw, 3);
  sw.ingress(a.portId, 0, [ethFrame(BROADCAST, a.mac), ethFrame(BROADCAST, a.mac)]);
  assert.equal(b.sink.frames.length, 0);
  assert.equal(c.sink.frames.length, 2);
  assert.equal(c.sink.batches, 1, 'one delivery call per NIC per batch');
  assert.equal(sw.counters(b.portId).drops['no-port-2'], 2);
  assert.deepEqual(drops, [{ time: drops[0]!.time, portId: b.portId, nicIndex: 0, reason: 'no-port-2', count: 2 }]);
  const s = sw.counters();
  assert.deepEqual([s.forwardedFrames, s.deliveredCopies, s.excludedCopies], [2, 2, 2]);
});

test('PORT_DELETE waits until an extension releases its port reference', async () => {
  const holder = new Injector('refs', 'filter');
  const sw = new Switch({ extensions: [holder, new MacLearningForwarder()] });
  const oids = recordOids(sw);
  const port = await sw.createPort({ type: 'generic' });
  const release = holder.context.referencePort(port.id);
  await sw.teardownPort(port.id);
  assert.throws(() => holder.context.referencePort(port.id), /is teardown/);
  let deleted = false;
  const deleting = sw.deletePort(port.id).then(() => (deleted = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(deleted, false);
  assert.equal(oids.at(-1)!.oid, 'OID_SWITCH_PORT_TEARDOWN');
  release();
  await deleting;
  assert.equal(oids.at(-1)!.oid, 'OID_SWITCH_PORT_DELETE');
});

test('NIC_DELETE waits for an extension reference on the NIC', async () => {
  const holder = new Injector('refs', 'filter');
  const sw = new Switch({ extensions: [holder, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const release = holder.context.referenceNic(a.portId, 0);
  await sw.disconnectNic(a.portId, 0);
  let deleted = false;
  const deleting = sw.deleteNic(a.portId, 0).then(() => (deleted = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(deleted, false);
  release();
  release(); // a second release is harmless
  await deleting;
  assert.equal(sw.nic(a.portId, 0), undefined);
});

test('a batch view kept past its callback cannot touch later batches', async () => {
  let kept: IngressBatch | null = null;
  const keeper: Extension = {
    name: 'keeper',
    kind: 'filter',
    ingress(batch) {
      kept ??= batch;
    },
  };
  const sw = new Switch({ extensions: [keeper, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac)]);
  assert.throws(() => kept!.drop(0, 'late'), /only valid during the callback/);
  sw.ingress(a.portId, 0, [ethFrame(b.mac, a.mac)]);
  assert.equal(b.sink.frames.length, 2);
});

test('a port with several NICs (index 0 and 1): frames flow between them, stopPort takes both down in order', async () => {
  const sw = new Switch();
  const oids = recordOids(sw);
  const port = await sw.createPort({ type: 'external' });
  const nic0 = new RecordingSink();
  const nic1 = new RecordingSink();
  await sw.createNic(port.id, { index: 0, type: 'external', mac: mac(1), sink: nic0 });
  await sw.createNic(port.id, { index: 1, type: 'synthetic', mac: mac(2), sink: nic1 });
  await sw.connectNic(port.id, 0);
  await sw.connectNic(port.id, 1);
  sw.ingress(port.id, 1, [ethFrame(mac(1), mac(2))]);
  assert.equal(nic0.frames.length, 1);
  assert.deepEqual(sw.ports()[0]!.nics.map((n) => [n.index, n.state]), [[0, 'connected'], [1, 'connected']]);
  oids.length = 0;
  await sw.stopPort(port.id);
  assert.deepEqual(oids.map((e) => `${e.oid.replace('OID_SWITCH_', '')}${e.nicIndex !== undefined ? ` ${e.nicIndex}` : ''}`), [
    'NIC_DISCONNECT 0', 'NIC_DELETE 0', 'NIC_DISCONNECT 1', 'NIC_DELETE 1', 'PORT_TEARDOWN', 'PORT_DELETE',
  ]);
});
