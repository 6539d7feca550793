// The page's lab model without a browser: workers are replaced by objects that
// record what the page posts and let the test speak for the guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, type WorkerLike } from './lab.ts';
import type { FromWorker, ToWorker, WireFrame } from '../worker/protocol.ts';

class ScriptedWorker implements WorkerLike {
  posted: { message: ToWorker; transfer: Transferable[] }[] = [];
  terminated = false;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  postMessage(message: unknown, transfer: Transferable[]): void {
    this.posted.push({ message: message as ToWorker, transfer });
  }
  terminate(): void {
    this.terminated = true;
  }
  emit(message: FromWorker): void {
    this.onmessage?.({ data: message } as MessageEvent);
  }
  sent<T extends ToWorker['type']>(type: T): Extract<ToWorker, { type: T }>[] {
    return this.posted.filter((p) => p.message.type === type).map((p) => p.message as Extract<ToWorker, { type: T }>);
  }
}

const IMAGE = { kernel: 'k', initrd: 'i', bios: 'b', vgaBios: 'v', wasm: 'w' };
const OFFLOADS = { csum: false, gso: [], maxFrameSize: 1518 };
const tick = () => new Promise((r) => setTimeout(r, 0));

function setup() {
  const workers = new Map<string, ScriptedWorker>();
  const lab = new Lab({
    image: IMAGE,
    createWorker: (name) => {
      const worker = new ScriptedWorker();
      workers.set(name, worker);
      return worker;
    },
    snapshotFor: async (models) => (models.join('+') === 'e1000' ? 'snapshots/e1000.snap' : undefined),
  });
  const oids: string[] = [];
  lab.sw.on('oid', (e) => oids.push(`${e.oid.replace('OID_SWITCH_', '')} ${e.portId}`));
  return { lab, workers, oids };
}

function icmp(srcMac: number[], dstMac: number[]): WireFrame {
  const data = new Uint8Array(60);
  data.set(dstMac, 0);
  data.set(srcMac, 6);
  data.set([0x08, 0x00, 0x45, 0, 0, 46, 0, 0, 0, 0, 64, 1], 12);
  data.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  return { data };
}

test('specs are checked with one clear message each', () => {
  const { lab } = setup();
  assert.match(lab.specProblem({ name: 'A', nics: ['e1000'] })!, /lower-case/);
  assert.match(lab.specProblem({ name: 'a', nics: [] })!, /at least one NIC/);
  assert.match(lab.specProblem({ name: 'a', nics: ['e1000', 'virtio', 'e1000'] })!, /at most two/);
  assert.match(lab.specProblem({ name: 'a', nics: ['rtl8139' as 'e1000'] })!, /unknown NIC model 'rtl8139'/);
  lab.addVm({ name: 'a', nics: ['e1000'] });
  assert.match(lab.specProblem({ name: 'a', nics: ['e1000'] })!, /already a VM named 'a'/);
  assert.throws(() => lab.addVm({ name: 'a', nics: ['e1000'] }), /already/);
});

test('start: identity and image in the start message, ports created when the worker names its NICs, connect on driver ready', async () => {
  const { lab, workers, oids } = setup();
  lab.addVm({ name: 'a', nics: ['e1000'] });
  lab.addVm({ name: 'b', nics: ['virtio'], boot: 'cold' });
  const started = lab.start('a');
  await tick();
  const a = workers.get('a')!;
  const config = a.sent('start')[0]!.config;
  assert.equal(config.name, 'a');
  assert.deepEqual(config.ip, ['10.0.0.1/24']);
  assert.deepEqual(config.hosts, { a: '10.0.0.1', b: '10.0.0.2' });
  assert.equal(config.snapshotUrl, 'snapshots/e1000.snap');
  assert.equal(config.nics[0]!.model, 'e1000');
  assert.equal(oids.length, 0, 'no OID before the worker has devices');

  a.emit({ type: 'nics', nics: [{ model: 'e1000', mac: config.nics[0]!.mac, driverReady: false, rxOffloads: OFFLOADS }] });
  await tick();
  await tick();
  assert.deepEqual(oids, ['PORT_CREATE 1', 'NIC_CREATE 1']);
  assert.equal(lab.sw.port(1)?.type, 'emulated');
  a.emit({ type: 'driver', nic: 0, event: { type: 'ready' } });
  await tick();
  assert.deepEqual(oids, ['PORT_CREATE 1', 'NIC_CREATE 1', 'NIC_CONNECT 1']);
  a.emit({ type: 'phase', phase: 'ready', elapsedMs: 5 });
  await started;
  assert.equal(lab.vms.get('a')!.state, 'running');
  assert.equal(lab.vms.get('a')!.bootedFrom, 'snapshot');
});

test('frames cross worker -> switch -> worker in batches with their buffers transferred', async () => {
  const { lab, workers } = setup();
  lab.addVm({ name: 'a', nics: ['e1000'] });
  lab.addVm({ name: 'b', nics: ['virtio'] });
  const macs: number[][] = [];
  for (const name of ['a', 'b']) {
    const done = lab.start(name);
    await tick();
    const worker = workers.get(name)!;
    const nic = worker.sent('start')[0]!.config.nics[0]!;
    macs.push(nic.mac.split(':').map((h) => parseInt(h, 16)));
    // b's driver is already bound (as after a snapshot restore): NIC_CONNECT follows NIC_CREATE at once.
    worker.emit({ type: 'nics', nics: [{ model: nic.model, mac: nic.mac, driverReady: name === 'b', rxOffloads: OFFLOADS }] });
    await tick();
    await tick();
    if (name === 'a') worker.emit({ type: 'driver', nic: 0, event: { type: 'ready' } });
    worker.emit({ type: 'phase', phase: 'ready' });
    await done;
  }
  await tick();
  const a = workers.get('a')!;
  const b = workers.get('b')!;
  // b announces itself (so the switch learns it), then a sends two frames to b.
  b.emit({ type: 'frames', nic: 0, frames: [icmp(macs[1]!, macs[0]!)] });
  await tick();
  a.emit({ type: 'frames', nic: 0, frames: [icmp(macs[0]!, macs[1]!), icmp(macs[0]!, macs[1]!)] });
  await tick();
  await tick();
  const toB = b.sent('frames');
  assert.equal(toB.length, 1, 'one message for the batch');
  assert.equal(toB[0]!.frames.length, 2);
  const transfer = b.posted.find((p) => p.message.type === 'frames')!.transfer;
  assert.equal(transfer.length, 2);
  assert.deepEqual(Array.from(toB[0]!.frames[0]!.data.subarray(0, 6)), macs[1]);
  assert.equal(lab.sw.counters(1).rxPackets, 2);
  assert.equal(lab.sw.counters(2).txPackets, 2);
});

test('stop: the seed stop lifecycle, then the worker is told to stop and terminated', async () => {
  const { lab, workers, oids } = setup();
  lab.addVm({ name: 'a', nics: ['e1000', 'virtio'] });
  const done = lab.start('a');
  await tick();
  const a = workers.get('a')!;
  const nics = a.sent('start')[0]!.config.nics;
  a.emit({ type: 'nics', nics: nics.map((n) => ({ model: n.model, mac: n.mac, driverReady: true, rxOffloads: OFFLOADS })) });
  a.emit({ type: 'phase', phase: 'ready' });
  await done;
  await new Promise((r) => setTimeout(r, 10));
  oids.length = 0;
  await lab.stop('a');
  assert.deepEqual(oids, [
    'NIC_DISCONNECT 1',
    'NIC_DELETE 1',
    'PORT_TEARDOWN 1',
    'PORT_DELETE 1',
    'NIC_DISCONNECT 2',
    'NIC_DELETE 2',
    'PORT_TEARDOWN 2',
    'PORT_DELETE 2',
  ]);
  assert.equal(a.sent('stop').length, 1);
  assert.equal(lab.vms.get('a')!.state, 'stopped');
  await new Promise((r) => setTimeout(r, 250));
  assert.ok(a.terminated);
  // Late messages from the old worker change nothing: a 'nics' would create ports, console text would show.
  const consoleText: string[] = [];
  lab.events.on('console', (e) => consoleText.push(e.text));
  oids.length = 0;
  a.emit({ type: 'nics', nics: nics.map((n) => ({ model: n.model, mac: n.mac, driverReady: true, rxOffloads: OFFLOADS })) });
  a.emit({ type: 'console', text: 'late' });
  a.emit({ type: 'frames', nic: 0, frames: [icmp([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])] });
  await tick();
  await tick();
  assert.equal(lab.sw.ports().length, 0);
  assert.deepEqual(oids, [], 'no OID from a stopped VM');
  assert.deepEqual(consoleText, []);
  assert.equal(lab.vms.get('a')!.state, 'stopped');
});

test("a restarted VM ignores its old worker: frames, console, phases and NIC lists from it change nothing", async () => {
  const { lab, workers, oids } = setup();
  lab.addVm({ name: 'a', nics: ['e1000'] });
  const boot = async () => {
    const done = lab.start('a');
    await tick();
    const worker = workers.get('a')!;
    const nic = worker.sent('start')[0]!.config.nics[0]!;
    worker.emit({ type: 'nics', nics: [{ model: nic.model, mac: nic.mac, driverReady: true, rxOffloads: OFFLOADS }] });
    worker.emit({ type: 'phase', phase: 'ready' });
    await done;
    await tick();
    return { worker, mac: nic.mac.split(':').map((h) => parseInt(h, 16)) };
  };
  const old = await boot();
  await lab.stop('a');
  const current = await boot();
  assert.notEqual(current.worker, old.worker);
  const portId = lab.vms.get('a')!.portIds[0]!;
  const consoleText: string[] = [];
  lab.events.on('console', (e) => consoleText.push(e.text));
  oids.length = 0;

  old.worker.emit({ type: 'frames', nic: 0, frames: [icmp(old.mac, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])] });
  old.worker.emit({ type: 'console', text: 'from the old guest' });
  old.worker.emit({ type: 'driver', nic: 0, event: { type: 'stopped', reason: 'old driver' } });
  old.worker.emit({ type: 'nics', nics: [{ model: 'e1000', mac: '02:00:00:00:00:77', driverReady: true, rxOffloads: OFFLOADS }] });
  old.worker.emit({ type: 'phase', phase: 'stopped' });
  for (let i = 0; i < 5; i++) await tick();

  assert.equal(lab.sw.counters(portId).rxPackets, 0, "the old worker's frames did not enter through the new port");
  assert.deepEqual(consoleText, []);
  assert.deepEqual(oids, [], 'no port made, disconnected or stopped for the old worker');
  assert.equal(lab.vms.get('a')!.state, 'running');
  assert.equal(lab.sw.nic(portId, 0)?.state, 'connected');
  // The current worker still speaks for the VM.
  current.worker.emit({ type: 'console', text: 'hello' });
  assert.deepEqual(consoleText, ['hello']);
});

test('a worker that fails leaves no port behind and rejects the start with its message', async () => {
  const { lab, workers, oids } = setup();
  lab.addVm({ name: 'a', nics: ['e1000'] });
  const done = lab.start('a');
  await tick();
  const a = workers.get('a')!;
  const mac = a.sent('start')[0]!.config.nics[0]!.mac;
  a.emit({ type: 'nics', nics: [{ model: 'e1000', mac, driverReady: false, rxOffloads: OFFLOADS }] });
  await tick();
  await tick();
  a.emit({ type: 'phase', phase: 'failed', detail: 'cannot fetch image/vmlinuz: HTTP 404' });
  await assert.rejects(done, /a: cannot fetch image\/vmlinuz: HTTP 404/);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(oids, ['PORT_CREATE 1', 'NIC_CREATE 1', 'NIC_DELETE 1', 'PORT_TEARDOWN 1', 'PORT_DELETE 1']);
  assert.equal(lab.vms.get('a')!.state, 'failed');
  assert.equal(lab.sw.ports().length, 0);
  // It can be started again.
  const again = lab.start('a');
  await tick();
  assert.notEqual(workers.get('a'), a);
  workers.get('a')!.emit({ type: 'phase', phase: 'failed', detail: 'still broken' });
  await assert.rejects(again, /still broken/);
});

test('a VM whose template could not be used is reported as booted cold', async () => {
  const { lab, workers } = setup();
  lab.addVm({ name: 'a', nics: ['e1000'] });
  const done = lab.start('a');
  await tick();
  const a = workers.get('a')!;
  assert.equal(a.sent('start')[0]!.config.snapshotUrl, 'snapshots/e1000.snap');
  assert.equal(lab.vms.get('a')!.bootedFrom, 'snapshot');
  a.emit({ type: 'phase', phase: 'booting', detail: 'template snapshot unusable (HTTP 404): booting cold' });
  assert.equal(lab.vms.get('a')!.detail, 'template snapshot unusable (HTTP 404): booting cold');
  a.emit({ type: 'phase', phase: 'ready' });
  await done;
  assert.equal(lab.vms.get('a')!.bootedFrom, 'cold');
});
