import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../net/frame.ts';
import { patternBytes } from '../../net/testing.ts';
import { FakePlatform } from '../../testing.ts';
import { DeviceStateError } from '../state-error.ts';
import { CTRL_CLASS_MAC, CTRL_CLASS_RX, CTRL_MAC_ADDR_SET, CTRL_MAC_TABLE_SET, CTRL_RX_PROMISC } from './control.ts';
import { NET_HDR_SIZE } from './header.ts';
import { COMMON } from './pci-transport.ts';
import { TestDriver } from './testing.ts';

const OWN = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/** The "snapshot": the device state through JSON, the same RAM contents, a fresh platform and device. */
function snapshotAndRestore(d: TestDriver, saved: unknown = JSON.parse(JSON.stringify(d.nic.saveState()))): TestDriver {
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
  // A packet waits in the transmit ring: a restored queue that is not marked broken walks it.
  d.tx.add([{ addr: d.put(new Uint8Array(NET_HDR_SIZE + 60)), length: NET_HDR_SIZE + 60 }]);
  const state = JSON.parse(JSON.stringify(d.nic.saveState()));
  state.queues[1].desc = 0x7ffffff0;
  const restored = snapshotAndRestore(d, state);
  assert.deepEqual(restored.nic.queues.map((q) => q.broken), [false, true, false], 'the queue with rings outside RAM, and only it');
  restored.nic.setTransmitSink({ deliver: () => assert.fail('nothing to send') });
  restored.tx.kick();
  assert.deepEqual(restored.platform.memory.refused, []);
  assert.deepEqual(restored.tx.takeUsed(), [], 'the chain stays untouched');
  assert.equal(restored.nic.queues[1]!.broken, true, 'and stays broken until the driver resets the device');
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

test('a state saved before version 2 (MACs as 12 hex digits) restores with the same MAC and MAC tables', () => {
  const d = new TestDriver().start();
  d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0));
  // One unicast (52:54:00:99:99:99) and one multicast (01:00:5e:00:00:fb) entry, each table a le32 count then MACs.
  d.control(CTRL_CLASS_MAC, CTRL_MAC_TABLE_SET, Uint8Array.of(1, 0, 0, 0, 0x52, 0x54, 0, 0x99, 0x99, 0x99, 1, 0, 0, 0, 0x01, 0x00, 0x5e, 0, 0, 0xfb));
  d.control(CTRL_CLASS_MAC, CTRL_MAC_ADDR_SET, Uint8Array.of(0x52, 0x54, 0, 0xab, 0xcd, 0xef));
  const current = JSON.parse(JSON.stringify(d.nic.saveState()));
  assert.equal(current.version, 2);
  assert.equal(current.mac, '52:54:00:ab:cd:ef');
  assert.deepEqual([current.filter.unicast, current.filter.multicast], [['52:54:00:99:99:99'], ['01:00:5e:00:00:fb']]);

  // What `vmswitch boot --save` wrote before: the same state, version 1, MACs as 12 hex digits.
  const old = { ...current, version: 1, mac: '525400abcdef', filter: { ...current.filter, unicast: ['525400999999'], multicast: ['01005e0000fb'] } };
  const restored = snapshotAndRestore(d, old);
  assert.deepEqual([...restored.nic.mac], [0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
  assert.deepEqual(JSON.parse(JSON.stringify(restored.nic.saveState())), current, 'saved again in the current form');
  const to = (dst: number[]) => {
    const data = patternBytes(100);
    data.set(dst);
    restored.nic.receive([{ data }]);
    return restored.nic.counters.rxDropped.filtered ?? 0;
  };
  assert.equal(to([0x52, 0x54, 0, 0x99, 0x99, 0x99]), 0, 'unicast table entry');
  assert.equal(to([0x01, 0x00, 0x5e, 0, 0, 0xfb]), 0, 'multicast table entry');
  assert.equal(to([0x52, 0x54, 0, 1, 1, 1]), 1, 'not in the table');

  // Each version reads only its own form.
  assert.throws(() => restored.nic.restoreState({ ...old, mac: '52:54:00:ab:cd:ef' }), (e: unknown) => e instanceof DeviceStateError && /\(mac\)/.test(e.message));
  assert.throws(() => restored.nic.restoreState({ ...current, mac: '525400abcdef' }), (e: unknown) => e instanceof DeviceStateError && /\(mac\)/.test(e.message));
  assert.throws(() => restored.nic.restoreState({ ...old, filter: { ...old.filter, unicast: ['52:54:00:99:99:99'] } }), /filter.unicast is not a MAC list/);
});

test('a ring address the driver wrote with a high word (beyond 2^53) saves and restores', () => {
  // Found by the fuzzer: the device saved what it could not restore.
  const d = new TestDriver().start();
  d.writeCommon(COMMON.deviceStatus, 0, 1); // reset: the queues can be written again
  d.writeCommon(COMMON.queueSelect, 1, 2);
  d.writeCommon(COMMON.queueDescHi, 0xffffffff, 4);
  d.writeCommon(COMMON.queueDriverHi, 0x00300000, 4);
  d.writeCommon(COMMON.queueDeviceLo, 0xffffffff, 4);
  d.writeCommon(COMMON.queueDeviceHi, 0xffffffff, 4); // the top of the 64-bit space: 2^64 as a double
  const restored = snapshotAndRestore(d);
  restored.writeCommon(COMMON.queueSelect, 1, 2);
  assert.equal(restored.readCommon(COMMON.queueDescHi, 4), 0xffffffff);
  assert.equal(restored.readCommon(COMMON.queueDriverHi, 4), 0x00300000);
  assert.throws(() => restored.nic.restoreState({ ...d.nic.saveState(), queues: d.nic.saveState().queues.map((q) => ({ ...q, desc: 2 ** 65 })) }), /queues\[0\]\.desc is not a 64-bit address/);
});

test('saved state with more chains out than the queue holds restores as a broken queue', () => {
  // Found by the fuzzer: indices no device can have were taken as they were.
  const d = new TestDriver().start();
  const state = JSON.parse(JSON.stringify(d.nic.saveState()));
  state.queues[1].lastAvail = state.queues[1].usedIdx + 257; // a queue of 256
  state.queues[2].lastAvail = (state.queues[2].usedIdx - 1) & 0xffff; // used ahead of avail
  const restored = snapshotAndRestore(d, state);
  assert.deepEqual(restored.nic.queues.map((q) => q.broken), [false, true, true]);
  state.queues[1].lastAvail = state.queues[1].usedIdx + 256;
  state.queues[2].lastAvail = state.queues[2].usedIdx;
  assert.deepEqual(snapshotAndRestore(d, state).nic.queues.map((q) => q.broken), [false, false, false], 'a full ring out is possible');
});

test('saved state with a queue not yet enabled but with indices moved restores broken, and stays so when enabled', () => {
  // Found by the fuzzer: the driver enabled the restored queue and the device started from used index 56.
  const d = new TestDriver();
  d.negotiate();
  const state = JSON.parse(JSON.stringify(d.nic.saveState()));
  state.queues[0].usedIdx = 56;
  const restored = snapshotAndRestore(d, state);
  assert.deepEqual(restored.nic.queues.map((q) => q.broken), [true, false, false]);
  restored.setupQueue(0);
  assert.equal(restored.nic.queues[0]!.ready, false, 'broken until the driver resets the device');
  restored.start();
  assert.equal(restored.nic.queues[0]!.ready, true);
  assert.equal(restored.nic.queues[0]!.usedIdx, 0);
});
