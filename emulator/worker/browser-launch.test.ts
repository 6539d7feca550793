// The page's launch with fake Web Workers: what each VM's worker is started
// with (image, template snapshot per VM, MACs salted by the lab), the VM
// joining host/lab's Lab through a VmThread, and a worker's error ending that VM alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../host/lab/lab.ts';
import type { NicModel } from '../net/nic.ts';
import { browserLaunch, browserMac, type WorkerLike } from './browser-launch.ts';
import type { BrowserVmOptions } from './browser-options.ts';
import type { ToVm } from './protocol.ts';
import { OFFLOADS } from './testing.ts';
import { VmThread } from './vm-thread.ts';

const IMAGE = { kernel: 'http://x/k', initrd: 'http://x/i', bios: 'http://x/b', vgaBios: 'http://x/v', wasm: 'http://x/w' };

/** Plays a VM's worker: answers 'start' with 'started' (its NICs as asked), 'exec' with success, 'stop' with 'ended'. */
class FakeWorker implements WorkerLike {
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  readonly posted: ToVm[] = [];
  terminated = false;
  constructor(readonly name: string) {}
  postMessage(message: unknown): void {
    const m = message as ToVm;
    this.posted.push(m);
    if (m.type === 'start') {
      const options = m.options as BrowserVmOptions;
      const nics = options.nics.map((nic) => ({ model: nic.model, mac: nic.mac!, driverReady: true, rxOffloads: OFFLOADS }));
      setTimeout(() => this.send({ type: 'started', threadId: 0, memoryMiB: 128, start: { kind: options.snapshotUrl ? 'snapshot' : 'cold', ms: 1 }, nics }), 1);
    }
    // The Lab tells running guests about VMs started after them (/etc/hosts).
    if (m.type === 'exec') setTimeout(() => this.send({ type: 'exec-done', id: m.id, exitCode: 0, output: '' }), 1);
    if (m.type === 'stop') setTimeout(() => this.send({ type: 'ended', reason: 'stopped' }), 1);
  }
  terminate(): void {
    this.terminated = true;
  }
  send(data: unknown): void {
    this.onmessage?.({ data } as MessageEvent);
  }
  fail(message: string): void {
    this.onerror?.({ message, preventDefault() {} } as ErrorEvent);
  }
}

function pageLab(labId = 'lab-1') {
  const workers: FakeWorker[] = [];
  const asked: string[] = [];
  const module = {} as WebAssembly.Module;
  const launch = browserLaunch({
    createWorker: (name) => {
      const worker = new FakeWorker(name);
      workers.push(worker);
      return worker;
    },
    image: IMAGE,
    memoryMiB: 96,
    wasm: async () => module,
    snapshotFor: async (models: readonly NicModel[]) => {
      asked.push(models.join('+'));
      return models.join('+') === 'e1000' ? 'http://x/e1000.snap' : undefined;
    },
  });
  const lab = new Lab({ launch, labId, connectTimeoutMs: 500 });
  const startOptions = (i: number) => (workers[i]!.posted[0] as Extract<ToVm, { type: 'start' }>).options as BrowserVmOptions;
  return { lab, workers, asked, module, startOptions };
}

test('each VM starts in its own worker with the image, its template choice and salted MACs, and joins the Lab', async () => {
  const { lab, workers, asked, module, startOptions } = pageLab();
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['e1000', 'virtio'], template: false });
  assert.deepEqual(workers.map((w) => w.name), ['a', 'b']);
  const start = workers[0]!.posted[0] as Extract<ToVm, { type: 'start' }>;
  assert.equal(start.wasm, module, "the page's compiled wasm is shared with the worker");
  assert.equal(startOptions(0).snapshotUrl, 'http://x/e1000.snap');
  assert.equal(startOptions(0).template, true);
  assert.deepEqual(startOptions(0).image, IMAGE);
  assert.equal(startOptions(0).memoryMiB, 96);
  assert.deepEqual(startOptions(0).ip, ['10.0.0.1/24']);
  assert.equal(startOptions(1).snapshotUrl, undefined, 'a VM started cold gets no snapshot');
  assert.deepEqual(asked, ['e1000'], 'the server is not asked for a template a cold start does not use');
  assert.deepEqual(startOptions(1).hosts, { a: '10.0.0.1', b: '10.0.0.2' });
  const macs = [...startOptions(0).nics, ...startOptions(1).nics].map((n) => n.mac);
  assert.equal(new Set(macs).size, 3, 'every NIC has its own MAC');
  assert.equal(macs[0], browserMac('lab-1', 'a', 0));
  assert.notEqual(browserMac('lab-1', 'a', 0), browserMac('lab-2', 'a', 0), "two labs' MACs differ");
  for (const mac of macs) assert.match(mac!, /^02(:[0-9a-f]{2}){5}$/);
  assert.ok(lab.vm('a')!.guest instanceof VmThread);
  assert.equal(lab.vm('b')!.portIds.length, 2);
  assert.deepEqual(
    lab.ports().map((p) => `${p.vm}/${p.nic}:${p.nicState}`),
    ['a/eth0:connected', 'b/eth0:connected', 'b/eth1:connected'],
  );
  await lab.close();
  assert.ok(workers.every((w) => w.posted.some((m) => m.type === 'stop') && w.terminated));
});

test("a worker's error fails its VM alone: its ports run the stop lifecycle, the others go on", async () => {
  const { lab, workers } = pageLab();
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['e1000'] });
  const failed = new Promise<string | undefined>((resolve) => lab.on('vm', (e) => e.vm === 'a' && e.state === 'failed' && resolve(e.detail)));
  workers[0]!.fail('RangeError: out of memory');
  assert.match((await failed) ?? '', /out of memory/);
  assert.deepEqual(
    lab.ports().map((p) => `${p.vm}:${p.portState}`),
    ['a:deleted', 'b:created'],
  );
  assert.equal(lab.vm('b')!.state, 'running');
  await lab.close();
});

test('a NIC given a MAC (the shared switch\'s page MACs) starts with that MAC, the others with salted ones', async () => {
  const { lab, startOptions } = pageLab();
  await lab.start('a', { nics: [{ model: 'e1000', mac: '0a:76:6d:03:01:00', ip: '10.0.3.1/16' }, 'virtio'] });
  assert.deepEqual(startOptions(0).nics.map((n) => n.mac), ['0a:76:6d:03:01:00', browserMac('lab-1', 'a', 1)]);
  assert.deepEqual(startOptions(0).ip, ['10.0.3.1/16', '-']);
  await lab.close();
});
