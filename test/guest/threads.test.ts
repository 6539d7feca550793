// VMs in their own worker threads (issue 13): a lab's VMs each get a thread
// by default; console, exec, counters and snapshots cross the thread
// boundary; a VM whose thread dies ends alone, its port running the seed's
// stop lifecycle while the other VMs go on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { Lab, type LabOidEvent, type LabVmEvent } from '../../host/lab/index.ts';
import type { LaunchGuest } from '../../host/lab/guest.ts';
import { startVmThread } from '../../emulator/worker/node-launch.ts';
import { DEFAULT_FRAME_TRANSPORT } from '../../emulator/worker/ring.ts';
import { decodeSnapshot } from '../../emulator/snapshot.ts';
import type { VmThread } from '../../emulator/worker/vm-thread.ts';
import type { Worker } from 'node:worker_threads';

let lab: Lab;
const oids: LabOidEvent[] = [];
const vmEvents: LabVmEvent[] = [];

const threadOf = (name: string) => lab.vm(name)!.guest as unknown as VmThread & { worker: Worker };

before(async () => {
  lab = new Lab();
  lab.on('oid', (event) => oids.push(event));
  lab.on('vm', (event) => vmEvents.push(event));
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['virtio'] });
  await lab.start('c', { nics: ['e1000'] });
});

after(async () => {
  await lab?.close();
});

test("a lab's VMs run in worker threads by default, one each", () => {
  const ids = ['a', 'b', 'c'].map((name) => threadOf(name).threadId);
  for (const id of ids) assert.ok(Number.isInteger(id) && id !== threadId, `VM thread ${id} is not the main thread (${threadId})`);
  assert.equal(new Set(ids).size, 3, `three threads: ${ids.join(', ')}`);
});

test('exec, console and counters cross the thread boundary', async () => {
  const result = await lab.exec('a', 'hostname; ping -c 3 -W 5 b >/dev/null; echo ping=$?; exit 4');
  assert.equal(result.exitCode, 4);
  assert.match(result.output, /^a\nping=0\n$/);

  // Two listeners on the console stream both see the guest's output.
  const a = threadOf('a');
  let seenOne = '';
  let seenTwo = '';
  const offOne = a.console.onData((bytes) => (seenOne += new TextDecoder().decode(bytes)));
  const offTwo = a.console.onData((bytes) => (seenTwo += new TextDecoder().decode(bytes)));
  a.console.write('echo con$((6*7))sole\n');
  for (let i = 0; i < 100 && !(seenOne.includes('con42sole') && seenTwo.includes('con42sole')); i++) await new Promise((r) => setTimeout(r, 50));
  offOne();
  offTwo();
  assert.ok(seenOne.includes('con42sole') && seenTwo.includes('con42sole'), JSON.stringify(seenOne.slice(-200)));

  // Counters are copies: asked for, they include the pings.
  await a.refreshCounters();
  const counters = a.nics[0]!.counters;
  assert.ok(counters.txFrames >= 3 && counters.rxFrames >= 3, JSON.stringify(counters));

  // Several exec requests at once each get their own answer.
  const answers = await Promise.all([1, 2, 3].map((n) => a.exec(`echo n${n}`)));
  assert.deepEqual(answers.map((r) => r.output.trim()), ['n1', 'n2', 'n3']);
});

test("a snapshot is taken in the VM's thread and comes back whole", async () => {
  const bytes = await threadOf('b').saveSnapshot();
  const { header } = await decodeSnapshot(bytes);
  assert.deepEqual(header.nics.map((nic) => nic.model), ['virtio']);
  assert.equal(header.memoryMiB, 128);
  assert.equal(header.nics[0]!.mac, lab.ports().find((p) => p.vm === 'b')!.mac);
});

test("a VM whose thread is killed fails alone: its port runs the stop order, the others keep pinging", async () => {
  const port = lab.vm('c')!.portIds[0]!;
  const start = oids.length;
  const failed = new Promise<LabVmEvent>((resolve) => {
    const off = lab.on('vm', (event) => {
      if (event.vm === 'c' && event.state === 'failed') {
        off();
        resolve(event);
      }
    });
  });
  await threadOf('c').worker.terminate();
  const event = await failed;
  assert.match(event.detail ?? '', /thread ended/);
  assert.deepEqual(
    oids.slice(start).filter((e) => e.portId === port).map((e) => `${e.oid.replace('OID_SWITCH_', '')}:${e.status}`),
    ['NIC_DISCONNECT:success', 'NIC_DELETE:success', 'PORT_TEARDOWN:success', 'PORT_DELETE:success'],
  );
  assert.equal(lab.vm('c')!.state, 'failed');
  assert.equal(lab.vm('a')!.state, 'running');
  const ping = await lab.exec('a', 'ping -c 2 -W 5 b');
  assert.equal(ping.exitCode, 0, ping.output);
  const gone = await lab.exec('a', 'ping -c 1 -W 2 c');
  assert.notEqual(gone.exitCode, 0, 'c is gone');
  // And it can be started again, in a new thread.
  await lab.start('c');
  assert.notEqual(threadOf('c').threadId, threadId);
  const back = await lab.exec('c', 'ping -c 1 -W 5 a');
  assert.equal(back.exitCode, 0, back.output);
});

/** A ping and a TCP transfer (iperf3, 4 MiB a -> b) between two VMs of `lab`. */
async function pingAndTcp(on: Lab, a: string, b: string): Promise<void> {
  const ping = await on.exec(a, `ping -c 3 -W 5 ${b}`);
  assert.equal(ping.exitCode, 0, ping.output);
  await on.exec(b, 'iperf3 -s -1 -D >/dev/null 2>&1; sleep 0.5');
  const tcp = await on.exec(a, `iperf3 -c ${b} -n 4M -f m`, { timeoutMs: 120_000 });
  assert.equal(tcp.exitCode, 0, tcp.output);
  assert.match(tcp.output, /receiver/);
}

test('frames cross threads with the default transport (transferables): ping and TCP', async () => {
  for (const name of ['a', 'b']) assert.equal(threadOf(name).frameTransport, DEFAULT_FRAME_TRANSPORT, name);
  await pingAndTcp(lab, 'a', 'b');
});

test('frames cross threads in SharedArrayBuffer rings when the launch asks: ping and TCP, nothing lost by the rings', async () => {
  const launch: LaunchGuest = (l) => startVmThread({ name: l.name, nics: l.nics, hostname: l.hostname, ip: l.ip, hosts: l.hosts, template: l.template, frameTransport: 'ring' });
  const other = new Lab({ launch });
  try {
    await other.start('x', { nics: ['virtio'] });
    await other.start('y', { nics: ['e1000'] });
    const threads = ['x', 'y'].map((name) => other.vm(name)!.guest as unknown as VmThread);
    for (const thread of threads) assert.equal(thread.frameTransport, 'ring', thread.name);
    await pingAndTcp(other, 'x', 'y');
    for (const thread of threads) assert.deepEqual(thread.ringDrops, {}, thread.name);
  } finally {
    await other.close();
  }
});
