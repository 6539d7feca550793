import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFromVm, RefusedMessage } from './protocol.ts';
import { VmThread, VmThreadStartError } from './vm-thread.ts';
import { FakeThread, STARTED } from './testing.ts';

async function started(): Promise<{ thread: FakeThread; vm: VmThread }> {
  const thread = new FakeThread();
  const starting = VmThread.start(thread, { name: 'a', nics: [{ model: 'e1000' }] });
  assert.equal(thread.posted[0]?.type, 'start');
  thread.send(STARTED);
  return { thread, vm: await starting };
}

test('the protocol accepts well-formed messages and refuses the rest with a reason', () => {
  assert.ok(!(parseFromVm(STARTED, -1) instanceof RefusedMessage));
  const frame = { type: 'frames', nic: 0, frames: [{ data: new Uint8Array(60) }] };
  assert.ok(!(parseFromVm(frame, 1) instanceof RefusedMessage));
  assert.ok(!(parseFromVm({ ...STARTED, rings: true }, -1) instanceof RefusedMessage));
  assert.ok(!(parseFromVm({ type: 'ring-wake', nic: 0 }, 1) instanceof RefusedMessage));
  const cases: [unknown, number, string][] = [
    [null, 1, 'not-an-object'],
    ['frames', 1, 'not-an-object'],
    [[1, 2], 1, 'not-an-object'],
    [{ type: 'nonsense' }, 1, 'unknown-type'],
    [{ ...frame, nic: 1 }, 1, 'bad-nic'],
    [{ ...frame, nic: -1 }, 1, 'bad-field'],
    [frame, -1, 'bad-nic'],
    [{ ...frame, frames: [{ data: 'x' }] }, 1, 'bad-field'],
    [{ ...frame, frames: [{ data: new Uint8Array(0) }] }, 1, 'bad-field'],
    [{ ...frame, frames: [{ data: new Uint8Array(70_000) }] }, 1, 'bad-field'],
    [{ ...frame, frames: [{ data: new Uint8Array(60), gso: { type: 'tcp9', segmentSize: 1, headerLength: 1 } }] }, 1, 'bad-field'],
    [{ type: 'driver', nic: 0, event: { type: 'mac', mac: 'zz' } }, 1, 'bad-field'],
    [{ type: 'driver', nic: 0, event: { type: 'explode' } }, 1, 'bad-field'],
    [{ type: 'counters', counters: [{ txFrames: -1 }] }, 1, 'bad-field'],
    [{ type: 'counters', counters: [] }, 1, 'bad-field'],
    [{ type: 'console', data: 'text' }, 1, 'bad-field'],
    [{ type: 'exec-done', id: 1, output: 5, exitCode: 0 }, 1, 'bad-field'],
    [{ type: 'ended', reason: 'because' }, 1, 'bad-field'],
    [STARTED, 1, 'bad-field'],
    [{ ...STARTED, nics: [{ ...STARTED.nics[0], model: 'ne2k' }] }, -1, 'bad-field'],
    [{ ...STARTED, rings: 'yes' }, -1, 'bad-field'],
    [{ type: 'ring-wake', nic: 3 }, 1, 'bad-nic'],
    [{ type: 'ring-wake' }, 1, 'bad-field'],
  ];
  for (const [data, nics, reason] of cases) {
    const result = parseFromVm(data, nics);
    assert.ok(result instanceof RefusedMessage, `refused: ${JSON.stringify(data)}`);
    assert.equal(result.reason, reason, `${JSON.stringify(data)}: ${result.detail}`);
  }
});

test('hostile messages from a VM thread are refused and counted, never thrown on the main thread', async () => {
  const { thread, vm } = await started();
  const hostile: unknown[] = [
    null,
    42,
    { type: 'frames', nic: 5, frames: [] },
    { type: 'frames', nic: 0, frames: 'nope' },
    { type: 'driver', nic: 0, event: null },
    { type: 'exec-done', id: 999, exitCode: 0, output: '' },
    { type: 'saved', id: 3, bytes: new Uint8Array(1) },
    { type: '__proto__' },
    STARTED,
    Object.create(null),
  ];
  for (const data of hostile) assert.doesNotThrow(() => thread.send(data));
  const total = Object.values(vm.refused).reduce((a, b) => a + (b ?? 0), 0);
  assert.equal(total, hostile.length, JSON.stringify(vm.refused));
  assert.equal(vm.refused['unknown-request'], 2);
  assert.equal(vm.refused['bad-nic'], 1);
  // Still working: a real answer is taken.
  const exec = vm.exec('true');
  const request = thread.posted.at(-1) as { type: 'exec'; id: number };
  assert.equal(request.type, 'exec');
  thread.send({ type: 'exec-done', id: request.id, exitCode: 3, output: 'out' });
  assert.deepEqual(await exec, { exitCode: 3, output: 'out' });
});

test('a thread that dies fails its VM: ended says why, pending requests reject, the thread is terminated', async () => {
  const { thread, vm } = await started();
  const exec = vm.exec('sleep 100');
  const save = vm.saveSnapshot();
  thread.exit('ERR_WORKER_OUT_OF_MEMORY: Worker terminated due to reaching memory limit');
  const end = await vm.ended;
  assert.equal(end.reason, 'failed');
  assert.match(end.detail ?? '', /ERR_WORKER_OUT_OF_MEMORY/);
  await assert.rejects(exec, /failed/);
  await assert.rejects(save, /failed/);
  assert.ok(thread.terminated);
  assert.equal(vm.isStopped, true);
  await assert.rejects(vm.exec('true'), /stopped/);
});

test('a thread that dies before its VM started rejects the start', async () => {
  const thread = new FakeThread();
  const starting = VmThread.start(thread, { name: 'a', nics: [] });
  thread.send({ type: 'failed', error: { name: 'Error', message: 'no image' } });
  await assert.rejects(starting, (error: Error) => error instanceof VmThreadStartError && /no image/.test(error.message));
  assert.ok(thread.terminated);
});

test('frames, driver events and counters reach the NIC mirror; frames to the guest go out in one batch with their buffers', async () => {
  const { thread, vm } = await started();
  const nic = vm.nics[0]!;
  const got: number[] = [];
  nic.setTransmitSink({ deliver: (frames) => frames.forEach((f) => got.push(f.data.length)) });
  thread.send({ type: 'frames', nic: 0, frames: [{ data: new Uint8Array(60) }, { data: new Uint8Array(1514) }] });
  assert.deepEqual(got, [60, 1514]);
  thread.send({ type: 'driver', nic: 0, event: { type: 'stopped', reason: 'down' } });
  assert.equal(nic.driverReady, false);
  const refresh = vm.refreshCounters();
  const request = thread.posted.at(-1) as { type: 'counters'; id: number };
  thread.send({ type: 'counters', id: request.id, counters: [{ txFrames: 2, txBytes: 1574, rxFrames: 1, rxBytes: 60, rxDropped: {}, guestErrors: {} }] });
  await refresh;
  assert.equal(nic.counters.txFrames, 2);
  const data = new Uint8Array(64).fill(7);
  nic.receive([{ data }, { data }]);
  await Promise.resolve();
  const batch = thread.posted.at(-1) as { type: 'frames'; frames: { data: Uint8Array }[] };
  assert.equal(batch.type, 'frames');
  assert.equal(batch.frames.length, 2);
  assert.notEqual(batch.frames[0]!.data.buffer, data.buffer, 'a copy: the sender keeps its bytes');
  assert.notEqual(batch.frames[0]!.data.buffer, batch.frames[1]!.data.buffer, 'one buffer per frame');
});

test('the console fans out to every listener and keeps recent text', async () => {
  const { thread, vm } = await started();
  const a: string[] = [];
  const b: string[] = [];
  vm.console.onData((bytes) => a.push(new TextDecoder().decode(bytes)));
  const offB = vm.console.onData((bytes) => b.push(new TextDecoder().decode(bytes)));
  thread.send({ type: 'console', data: new TextEncoder().encode('hello ') });
  offB();
  thread.send({ type: 'console', data: new TextEncoder().encode('world') });
  assert.deepEqual(a, ['hello ', 'world']);
  assert.deepEqual(b, ['hello ']);
  assert.equal(vm.console.recent(), 'hello world');
  vm.console.write('ls\n');
  const input = thread.posted.at(-1) as { type: 'input'; data: Uint8Array };
  assert.equal(new TextDecoder().decode(input.data), 'ls\n');
});
