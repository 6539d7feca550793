import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSnapshot } from '../../emulator/snapshot.ts';
import { parseBrowserSnapshot, snapshotHeaderLength } from './snapshot.ts';

const header = {
  format: 1,
  memoryMiB: 128,
  nics: [
    { model: 'e1000' as const, mac: '02:00:00:00:00:01', state: { regs: [1, 2, 3] } },
    { model: 'virtio' as const, mac: '02:00:00:00:00:02', state: { queues: 3 } },
  ],
  image: { kernelVersion: '6.1.0-50-686' },
  createdAt: '2026-11-25T00:00:00Z',
};

test('reads what the Node runtime writes', () => {
  const state = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const snapshot = parseBrowserSnapshot(encodeSnapshot(header, state));
  assert.equal(snapshot.memoryMiB, 128);
  assert.deepEqual(snapshot.nics, ['e1000', 'virtio']);
  assert.deepEqual(snapshot.macs, ['02:00:00:00:00:01', '02:00:00:00:00:02']);
  assert.deepEqual(snapshot.nicStates, [{ regs: [1, 2, 3] }, { queues: 3 }]);
  assert.equal(snapshot.kernelVersion, '6.1.0-50-686');
  assert.deepEqual(snapshot.v86State, state);
});

test('bad snapshots are refused with a reason', () => {
  const good = encodeSnapshot(header, new Uint8Array(10));
  assert.throws(() => parseBrowserSnapshot(new TextEncoder().encode('NOTASNAPxxxx')), /bad magic/);
  assert.throws(() => parseBrowserSnapshot(good.subarray(0, 30)), /truncated/);
  assert.throws(() => parseBrowserSnapshot(encodeSnapshot({ ...header, format: 2 }, new Uint8Array(1))), /unsupported snapshot format 2/);
  assert.throws(() => parseBrowserSnapshot(encodeSnapshot({ ...header, nics: [{ model: 'ne2k' as 'e1000', mac: 'x', state: null }] }, new Uint8Array(1))), /unknown model "ne2k"/);
  const broken = good.slice();
  broken[12] = 0x7b; // '{' where the JSON starts -> '{{...'
  broken[13] = 0x7b;
  assert.throws(() => parseBrowserSnapshot(broken), /not valid JSON/);
  assert.equal(snapshotHeaderLength(new Uint8Array(3)), undefined);
});
