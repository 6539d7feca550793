import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../net/frame.ts';
import { patternBytes } from '../../net/testing-packets.ts';
import { FakePlatform } from '../../testing/fake-platform.ts';
import { DeviceStateError } from '../state-error.ts';
import { CTRL_CLASS_RX, CTRL_RX_PROMISC } from './control.ts';
import { NET_HDR_SIZE } from './header.ts';
import { TestDriver } from './testing-driver.ts';

const OWN = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/** The "snapshot": the device state through JSON, the same RAM contents, a fresh platform and device. */
function snapshotAndRestore(d: TestDriver): TestDriver {
  const saved = JSON.parse(JSON.stringify(d.nic.saveState()));
  const platform = new FakePlatform(d.platform.memory.size);
  platform.memory.bytes.set(d.platform.memory.bytes);
  const restored = new TestDriver({ platform });
  restored.adopt(d);
  restored.nic.restoreState(saved);
  return restored;
}

test('a device restored from saved state (through JSON) keeps working on the same guest memory', () => {
  const d = new TestDriver().start();
  d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0));
  const rxBufs = Array.from({ length: 8 }, () => d.arena.alloc(1536));
  for (const addr of rxBufs) d.rx.add([{ addr, length: 1536, write: true }]);
  d.rx.kick();
  const data = patternBytes(100);
  data.set(OWN);
  d.nic.receive([{ data }]);
  assert.equal(d.rx.takeUsed().length, 1);
  // A frame waiting for more buffers holds chains the device took from the ring: saved state must give them back.
  const big = patternBytes(12000);
  big.set(OWN);
  d.nic.receive([{ data: big }]);
  assert.equal(d.rx.takeUsed().length, 0);
  const restored = snapshotAndRestore(d);
  assert.deepEqual(restored.events.map((e) => e.type), ['features', 'ready']);
  assert.equal(restored.nic.driverReady, true);

  // Receive continues in the remaining buffers, the filter is kept.
  const other = patternBytes(100);
  other.set([0x52, 0x54, 0, 9, 9, 9]);
  restored.nic.receive([{ data: other }, { data }]);
  assert.equal(restored.nic.counters.rxDropped.filtered, 1);
  // The waiting frame was in flight (lost, like one on a cable); its buffers are used again from chain 1 on.
  assert.deepEqual(restored.rx.takeUsed(), [{ id: 1, len: NET_HDR_SIZE + 100 }]);

  // Transmit continues from where the ring was.
  const sent: Frame[] = [];
  restored.nic.setTransmitSink({ deliver: (frames) => sent.push(...frames) });
  restored.tx.add([{ addr: restored.put(Uint8Array.of(...new Uint8Array(NET_HDR_SIZE), ...data)), length: NET_HDR_SIZE + 100 }]);
  restored.tx.kick();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.data, data);
});

test('restoreState rejects malformed state with a clear error and changes nothing', () => {
  const d = new TestDriver().start();
  const good = d.nic.saveState();
  assert.throws(() => d.nic.restoreState(null), /bad saved state/);
  assert.throws(() => d.nic.restoreState({ ...good, version: 99 }), /version/);
  assert.throws(() => d.nic.restoreState({ ...good, queues: [] }), /queues/);
  assert.throws(() => d.nic.restoreState({ ...good, mac: 'zz' }), /mac/);
  assert.equal(d.nic.driverReady, true);
});

test('saved state with rings outside RAM restores as a broken queue, never a DMA outside RAM', () => {
  const d = new TestDriver().start();
  const state = JSON.parse(JSON.stringify(d.nic.saveState()));
  state.queues[1].desc = 0x7ffffff0;
  const fresh = new TestDriver();
  fresh.nic.restoreState(state);
  fresh.nic.setTransmitSink({ deliver: () => assert.fail('nothing to send') });
  fresh.fn.write(0, 0x42, 1, 2);
  assert.deepEqual(fresh.platform.memory.refused, []);
});

test('a transmit-completion interrupt held at save time is pending after the restore', () => {
  const d = new TestDriver().start();
  d.nic.setTransmitSink({ deliver: () => {} });
  d.tx.add([{ addr: d.put(new Uint8Array(NET_HDR_SIZE + 60)), length: NET_HDR_SIZE + 60 }]);
  d.tx.kick();
  assert.equal(d.fn.irq.level, false, 'held');
  const restored = snapshotAndRestore(d);
  assert.equal(restored.fn.irq.level, true, 'raised at once: the restored device has no timer to wait for');
  assert.equal(restored.readIsr(), 1);
});

test('a refused restore throws DeviceStateError before it applies anything', () => {
  const d = new TestDriver().start();
  const bad = JSON.parse(JSON.stringify(d.nic.saveState()));
  bad.features = '1'; // FEATURES_OK with features the device never offers as a set (no VERSION_1)
  bad.queues[1].lastAvail = 7;
  const waiting = patternBytes(100);
  waiting.set(OWN);
  d.nic.receive([{ data: waiting }]); // no receive buffers yet: the frame waits in the backlog
  assert.throws(
    () => d.nic.restoreState(bad),
    (error: unknown) => error instanceof DeviceStateError && error.name === 'DeviceStateError' && error.device === 'virtio-net' && /^virtio-net state: bad saved state \(features\)$/.test(error.message),
  );
  assert.throws(() => d.nic.restoreState(null), DeviceStateError);
  assert.equal(d.nic.counters.rxDropped.restore, undefined, 'the backlog was kept');
  assert.equal(d.nic.queues[1]!.lastAvail, 0, 'the queues were kept');
  d.rx.add([{ addr: d.arena.alloc(1536), length: 1536, write: true }]);
  d.rx.kick();
  assert.deepEqual(d.rx.takeUsed(), [{ id: 0, len: NET_HDR_SIZE + 100 }]);
});
