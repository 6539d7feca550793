// Hostile descriptor tables: every case must end the walk quickly, never touch
// memory outside RAM, count a guest error and leave only this device broken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMON, ISR_CONFIG, STATUS_DEVICE_NEEDS_RESET } from './pci-transport.ts';
import { DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, TestDriver } from './testing.ts';
import { NET_HDR_SIZE } from './header.ts';
import { featureSet, VIRTIO_F_VERSION_1 } from './features.ts';
import type { GuestErrorReason } from '../../net/drop-reasons.ts';

function started(): TestDriver {
  const d = new TestDriver().start();
  d.nic.setTransmitSink({ deliver: () => {} });
  return d;
}

function assertBroken(d: TestDriver, reason: GuestErrorReason): void {
  assert.equal(d.nic.counters.guestErrors[reason], 1, `${reason} counted (got ${JSON.stringify(d.nic.counters.guestErrors)})`);
  assert.ok(d.status & STATUS_DEVICE_NEEDS_RESET, 'device asks for a reset');
  assert.equal(d.nic.driverReady, false);
  assert.equal(d.readIsr() & ISR_CONFIG, ISR_CONFIG, 'config interrupt tells the driver');
  assert.deepEqual(d.events.at(-1)?.type, 'stopped');
  assert.deepEqual(d.platform.memory.refused, [], 'no access outside RAM was even attempted');
  assert.ok(d.platform.memory.bytesRead < 64 * 1024, `bounded work (${d.platform.memory.bytesRead} bytes read)`);
}

const cases: [string, GuestErrorReason, (d: TestDriver) => void][] = [
  [
    'a descriptor that chains to itself',
    'descriptor-loop',
    (d) => {
      d.tx.writeDesc(0, d.put(new Uint8Array(100)), 100, DESC_F_NEXT, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'a two-descriptor cycle',
    'descriptor-loop',
    (d) => {
      const buf = d.put(new Uint8Array(100));
      d.tx.writeDesc(3, buf, 100, DESC_F_NEXT, 4);
      d.tx.writeDesc(4, buf, 100, DESC_F_NEXT, 3);
      d.tx.publishHead(3);
    },
  ],
  ['a head index beyond the queue', 'descriptor-index', (d) => d.tx.publishHead(40000)],
  // The first index past the end: the bound is exclusive (the slot there is the avail ring, not a descriptor).
  ['a head index equal to the queue size', 'descriptor-index', (d) => d.tx.publishHead(d.tx.size)],
  [
    'a next index beyond the queue',
    'descriptor-index',
    (d) => {
      d.tx.writeDesc(0, d.put(new Uint8Array(100)), 100, DESC_F_NEXT, 256);
      d.tx.publishHead(0);
    },
  ],
  [
    'a huge length',
    'descriptor-address',
    (d) => {
      d.tx.writeDesc(0, d.put(new Uint8Array(100)), 0xffffffff, 0, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'an address outside RAM',
    'descriptor-address',
    (d) => {
      d.tx.writeDesc(0, 0xfff00000, 100, 0, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'an address above 4 GiB',
    'descriptor-address',
    (d) => {
      d.tx.writeDesc(0, 0x1000, 100, 0, 0);
      d.platform.memory.writeU32(d.tx.desc + 4, 1);
      d.tx.publishHead(0);
    },
  ],
  [
    'an available index far ahead',
    'avail-index',
    (d) => d.platform.memory.writeU16(d.tx.avail + 2, 1000),
  ],
  [
    'a readable buffer after a writable one',
    'descriptor-order',
    (d) => {
      const buf = d.put(new Uint8Array(100));
      d.tx.writeDesc(0, buf, 100, DESC_F_WRITE | DESC_F_NEXT, 1);
      d.tx.writeDesc(1, buf, 100, 0, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'an indirect table with a loop',
    'descriptor-loop',
    (d) => {
      const table = d.arena.alloc(32);
      const buf = d.put(new Uint8Array(100));
      d.tx.writeDesc(0, buf, 100, DESC_F_NEXT, 1, table);
      d.tx.writeDesc(1, buf, 100, DESC_F_NEXT, 0, table);
      d.tx.writeDesc(0, table, 32, DESC_F_INDIRECT, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    // The 16 bytes after the table are zero: read as a descriptor they would end the chain quietly.
    'an indirect next index equal to the table length',
    'descriptor-index',
    (d) => {
      const table = d.arena.alloc(32);
      d.arena.alloc(64);
      const buf = d.put(new Uint8Array(100));
      d.tx.writeDesc(0, buf, 50, DESC_F_NEXT, 1, table);
      d.tx.writeDesc(1, buf + 50, 50, DESC_F_NEXT, 2, table);
      d.tx.writeDesc(0, table, 32, DESC_F_INDIRECT, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'a nested indirect table',
    'descriptor-flags',
    (d) => {
      const table = d.arena.alloc(16);
      d.tx.writeDesc(0, table, 16, DESC_F_INDIRECT, 0, table);
      d.tx.writeDesc(0, table, 16, DESC_F_INDIRECT, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'an indirect table of a ragged length',
    'indirect-length',
    (d) => {
      d.tx.writeDesc(0, d.arena.alloc(32), 20, DESC_F_INDIRECT, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'an indirect table bigger than the queue',
    'descriptor-loop',
    (d) => {
      d.tx.writeDesc(0, d.arena.alloc(16 * 1024), 16 * 1024, DESC_F_INDIRECT, 0);
      d.tx.publishHead(0);
    },
  ],
  [
    'an indirect table outside RAM',
    'descriptor-address',
    (d) => {
      d.tx.writeDesc(0, 0xffff0000, 64, DESC_F_INDIRECT, 0);
      d.tx.publishHead(0);
    },
  ],
];

for (const [name, reason, setup] of cases) {
  test(`hostile TX ring: ${name}`, () => {
    const d = started();
    setup(d);
    d.tx.kick();
    assertBroken(d, reason);
    // The broken queue stays quiet; the rest of the emulator goes on.
    const read = d.platform.memory.bytesRead;
    d.tx.kick();
    assert.equal(d.platform.memory.bytesRead, read);
  });
}

test('hostile RX ring: a device-readable receive buffer, and a buffer too small for the header', () => {
  for (const [flags, length, reason] of [
    [0, 1500, 'descriptor-flags'],
    [DESC_F_WRITE, 4, 'rx-buffer-short'],
  ] as const) {
    const d = started();
    d.rx.writeDesc(0, d.arena.alloc(1500), length, flags, 0);
    d.rx.publishHead(0);
    d.rx.kick();
    d.nic.receive([{ data: new Uint8Array(60).fill(0xff) }]);
    assertBroken(d, reason);
  }
});

test('queue rings outside RAM are refused when the queue is enabled', () => {
  const d = new TestDriver();
  d.negotiate();
  d.writeCommon(COMMON.queueSelect, 1, 2);
  d.writeCommon(COMMON.queueDescLo, 0xfff000, 4);
  d.writeCommon(COMMON.queueDescHi, 0, 4);
  d.writeCommon(COMMON.queueDriverLo, 0xfffff0, 4); // 16 MiB RAM: the ring runs past its end
  d.writeCommon(COMMON.queueDeviceLo, 0x1000, 4);
  d.writeCommon(COMMON.queueEnable, 1, 2);
  assert.equal(d.nic.counters.guestErrors['queue-config'], 1);
  assert.ok(d.status & STATUS_DEVICE_NEEDS_RESET);
  assert.deepEqual(d.platform.memory.refused, []);
});

test('a queue size that is not a power of two is refused', () => {
  const d = new TestDriver();
  d.negotiate();
  d.setupQueue(0, 100);
  assert.equal(d.nic.counters.guestErrors['queue-config'], 1);
});

test('zero-length descriptors are skipped, not fatal', () => {
  const d = new TestDriver().start();
  const sent: Uint8Array[] = [];
  d.nic.setTransmitSink({ deliver: (frames) => sent.push(...frames.map((f) => f.data)) });
  d.tx.add([
    { addr: d.put(new Uint8Array(NET_HDR_SIZE)), length: NET_HDR_SIZE },
    { addr: 0, length: 0 },
    { addr: d.put(new Uint8Array(60).fill(7)), length: 60 },
  ]);
  d.tx.kick();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.length, 60);
  assert.equal(d.nic.driverReady, true);
});

test('after a guest error, a reset and a fresh setup work again', () => {
  const d = started();
  d.tx.publishHead(999);
  d.tx.kick();
  assert.equal(d.nic.driverReady, false);
  d.start();
  const sent: number[] = [];
  d.nic.setTransmitSink({ deliver: (frames) => sent.push(frames.length) });
  d.tx.add([{ addr: d.put(new Uint8Array(NET_HDR_SIZE + 60)), length: NET_HDR_SIZE + 60 }]);
  d.tx.kick();
  assert.deepEqual(sent, [1]);
  assert.equal(d.status & STATUS_DEVICE_NEEDS_RESET, 0);
});

test('one kick does at most one ring of work', () => {
  const d = started();
  let frames = 0;
  d.nic.setTransmitSink({ deliver: (batch) => (frames += batch.length) });
  const buf = d.put(new Uint8Array(NET_HDR_SIZE + 60));
  // Every avail slot points at the same one-descriptor chain: a full ring.
  d.tx.writeDesc(0, buf, NET_HDR_SIZE + 60, 0, 0);
  for (let i = 0; i < 256; i++) d.tx.publishHead(0);
  d.tx.kick();
  assert.equal(frames, 256);
  d.tx.kick();
  assert.equal(frames, 256, 'nothing new, nothing done');
});

test('the used index runs on past the queue size (it wraps at 2^16, not at the ring)', () => {
  const d = new TestDriver().start({ queueSize: 8 });
  let frames = 0;
  d.nic.setTransmitSink({ deliver: (batch) => (frames += batch.length) });
  const buf = d.put(new Uint8Array(NET_HDR_SIZE + 60));
  d.tx.writeDesc(0, buf, NET_HDR_SIZE + 60, 0, 0);
  // Three rings' worth, one ring per kick, the driver taking the used entries between kicks as Linux does.
  let completed = 0;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 8; i++) d.tx.publishHead(0);
    d.tx.kick();
    completed += d.tx.takeUsed().length;
  }
  assert.equal(frames, 24);
  assert.equal(d.platform.memory.readU16(d.tx.used + 2), 24, 'used.idx counts every completion');
  assert.equal(completed, 24, 'the driver saw every completion');
  assert.equal(d.nic.driverReady, true);
});

test('a driver that re-offers receive chains the device still holds breaks the queue: never more chains out than the queue holds', () => {
  // Found by the fuzzer: with a frame waiting for more mergeable buffers, the available index may run a
  // queue's worth ahead of the chains taken, and the device took more chains than the queue has.
  const d = new TestDriver().start({ queueSize: 4 });
  for (let i = 0; i < 3; i++) d.rx.add([{ addr: d.arena.alloc(1024), length: 1024, write: true }]);
  d.rx.kick();
  const big = new Uint8Array(5000);
  big.set([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  d.nic.receive([{ data: big }]);
  assert.equal(d.nic.queues[0]!.lastAvail, 3, 'three chains held for the waiting frame');
  // Four more: the three held re-offered plus one. The available index is 7 ahead of the used index 0.
  for (let i = 0; i < 4; i++) d.rx.publishHead(i);
  d.rx.kick();
  assertBroken(d, 'avail-index');
  const q = d.nic.queues[0]!;
  assert.ok(((q.lastAvail - q.usedIdx) & 0xffff) <= q.size, `${q.lastAvail - q.usedIdx} chains out`);
});

test('the available index is checked against the used index the driver has seen, so one pass never uses more chains than the queue has', () => {
  // Found by the fuzzer: a receive chain held for a frame, the same head re-offered, then two frames in one
  // pass: the held chain was filled, which made the re-offer look legal, and a queue of 1 used 2 chains.
  const d = new TestDriver().start({ features: featureSet(VIRTIO_F_VERSION_1), queueSize: 1 });
  d.rx.add([{ addr: d.arena.alloc(64), length: 64, write: true }]);
  d.rx.kick();
  const own = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
  const frame = (length: number) => {
    const data = new Uint8Array(length);
    data.set(own);
    return { data };
  };
  d.nic.receive([frame(100)]); // too big for the buffer: dropped, the chain stays with the device
  assert.equal(d.nic.queues[0]!.lastAvail, 1);
  d.rx.publishHead(0); // the driver re-offers the head the device holds
  d.nic.receive([frame(40), frame(40)]);
  assert.equal(d.nic.counters.guestErrors['avail-index'], 1);
  assert.equal(d.nic.counters.rxFrames, 1, 'the held chain was filled and given back');
  assert.deepEqual(d.rx.takeUsed().map((u) => u.id), [0]);
});
